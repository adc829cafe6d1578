// Makes sure a Chromium is installed for the browser tests (test/e2e/browser-attacks.test.ts),
// so `npm test` works on a fresh machine with one command. Chromium comes from Debian's
// package (Playwright cannot download its own browser here); it is installed when missing
// and the machine has apt-get and root. Plain JavaScript, like ensure-deps.js.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";

const chromium = process.env.PROTOGATE_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(chromium)) {
  const canInstall = process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");
  if (!canInstall) {
    process.stderr.write(
      `protogate: the browser tests need Chromium at ${chromium}. Install Debian's package ` +
        "(sudo apt-get install chromium) or set PROTOGATE_CHROMIUM to a Chromium binary.\n",
    );
    process.exit(1);
  }
  process.stderr.write("protogate: installing Chromium for the browser tests (apt-get install chromium)…\n");
  const install = "apt-get install -y --no-install-recommends chromium";
  try {
    execSync(install, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  } catch {
    // A fresh machine may not have the package lists yet.
    execSync(`apt-get update && ${install}`, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  }
}
