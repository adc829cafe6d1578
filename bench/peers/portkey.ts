/**
 * Starts the Portkey AI gateway (installed by bench/peers/install-portkey.sh
 * into bench/.peers/) as a child process in front of an OpenAI-compatible
 * upstream, for side-by-side benchmarks.
 *
 * How Portkey is driven (checked against its published build, 1.15.2):
 * - `node build/start-server.js --port=N --headless` serves on port N
 *   (default 8787); `--headless` leaves out the log-viewer UI routes.
 * - Per request, `x-portkey-provider: openai` plus
 *   `x-portkey-custom-host: http://127.0.0.1:PORT/v1` sends
 *   `POST /v1/chat/completions` to that upstream unchanged. Loopback hosts
 *   are trusted custom hosts by default (TRUSTED_CUSTOM_HOSTS); no API key
 *   is needed for a custom host that does not ask for one.
 * - It binds every interface; bench/peers/loopback-only.mjs, preloaded,
 *   makes it bind 127.0.0.1 instead.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freeLoopbackPort } from "../../test/helpers/refused-url.js";
import { type BenchChild, startChild } from "../child-processes.js";

/** A running Portkey gateway. */
export interface RunningPortkey {
  readonly child: BenchChild;
  /** e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly version: string;
  /** The headers that route a request through Portkey to `upstreamUrl`. */
  routeHeaders(upstreamUrl: string): Record<string, string>;
}

/** Where install-portkey.sh puts the package, relative to the repository root. */
export const portkeyPackageDir = join("bench", ".peers", "node_modules", "@portkey-ai", "gateway");

/**
 * Starts Portkey from bench/.peers and waits until it answers `GET /`.
 * Throws with the install command when it is not installed.
 *
 * @example
 * const portkey = await startPortkey({ repoRoot });
 * fetch(`${portkey.url}/v1/chat/completions`, { method: "POST", headers: portkey.routeHeaders(upstream), body });
 */
export async function startPortkey(options: { readonly repoRoot: string; readonly timeoutMs?: number }): Promise<RunningPortkey> {
  const packageDir = join(options.repoRoot, portkeyPackageDir);
  const entry = join(packageDir, "build", "start-server.js");
  if (!existsSync(entry)) {
    throw new Error(`Portkey is not installed (${entry} is missing); run: bash bench/peers/install-portkey.sh`);
  }
  const manifest: unknown = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  const version =
    typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string"
      ? manifest.version
      : "unknown";

  const port = await freeLoopbackPort();
  const child = startChild(
    "portkey",
    process.execPath,
    ["--import", "./bench/peers/loopback-only.mjs", entry, `--port=${port}`, "--headless"],
    { cwd: options.repoRoot },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    try {
      const response = await fetch(`${url}/`);
      const text = await response.text();
      if (response.ok && text.includes("AI Gateway")) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`Portkey did not answer on ${url} in time:\n${child.recentOutput()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    url,
    version,
    routeHeaders: (upstreamUrl) => ({ "x-portkey-provider": "openai", "x-portkey-custom-host": `${upstreamUrl}/v1` }),
  };
}
