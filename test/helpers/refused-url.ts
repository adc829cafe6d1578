import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A loopback URL on which nothing listens: a port the OS handed out and that
 * was closed again, so connecting is refused at once (no timeout involved).
 *
 * @example
 * const backend = createOpenAiBackend({ id: "down", baseUrl: await refusedUrl() });
 */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
