/**
 * What lets a benchmark's helper server also run as its own process (so
 * that it never shares an event loop with the server under test): the
 * `--port` and other flags, the "NAME listening on URL" line that
 * bench/gateway-overhead.ts waits for, and a clean exit on SIGINT/SIGTERM.
 */
import { pathToFileURL } from "node:url";

/** A started server, as the helpers' `start…` functions return it. */
export interface StandaloneServer {
  readonly url: string;
  close(): Promise<void>;
}

/** The value after `--name` in `argv`, if any. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(name);
  return index === -1 ? undefined : argv[index + 1];
}

/** `--port N` (default 0: any free port), checked. */
export function portFlag(argv: readonly string[]): number {
  const port = Number(flagValue(argv, "--port") ?? "0");
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error("--port needs a number from 0 to 65535");
  return port;
}

/**
 * Starts the server when `moduleUrl` is the script Node was started with
 * (and does nothing when the module is imported): prints
 * `${name} listening on ${url}`, closes on SIGINT and SIGTERM, and exits 1
 * if starting fails.
 *
 * @example
 * runWhenMain(import.meta.url, "fixed upstream", (argv) => startFixedUpstream({ port: portFlag(argv) }));
 */
export function runWhenMain(moduleUrl: string, name: string, start: (argv: readonly string[]) => Promise<StandaloneServer>): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  Promise.resolve(process.argv.slice(2)).then(start).then(
    (server) => {
      console.log(`${name} listening on ${server.url}`);
      const stop = () => void server.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
