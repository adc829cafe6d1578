import { type Browser, chromium } from "playwright-core";

/** Names the browser resolves to 127.0.0.1 without DNS, as a rebinding attack would make it. */
export const loopbackNames = ["attacker.test", "ui.test", "other.test"] as const;

/**
 * Starts Debian's headless Chromium (installed by `npm test`'s pretest,
 * scripts/ensure-browser.js) through playwright-core, with the names in
 * `loopbackNames` resolving to 127.0.0.1: what a page's own name looks
 * like to the browser once DNS rebinding pointed it at the gateway.
 *
 * @example
 * const browser = await launchBrowser();
 * const page = await browser.newPage();
 * await page.goto(`http://attacker.test:${port}/healthz`);
 * await browser.close();
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.PROTOGATE_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--host-resolver-rules=${loopbackNames.map((name) => `MAP ${name} 127.0.0.1`).join(", ")}`,
    ],
  });
}
