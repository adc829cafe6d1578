import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A loopback port the OS handed out and that was closed again: free now,
 * and nothing listens on it (for servers that cannot listen on port 0 and
 * report the port).
 *
 * @example
 * const port = await freeLoopbackPort();
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A loopback URL on which nothing listens, so connecting is refused at
 * once (no timeout involved).
 *
 * @example
 * const backend = createOpenAiBackend({ id: "down", baseUrl: await refusedUrl() });
 */
export async function refusedUrl(): Promise<string> {
  return `http://127.0.0.1:${await freeLoopbackPort()}`;
}
