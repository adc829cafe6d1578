import { type IncomingMessage, type ServerResponse, createServer, request as sendRequest } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** An HTTP/1.1 proxy in front of a fake upstream that can hold responses back. */
export interface GatedProxy {
  /** `http://127.0.0.1:PORT`; point the gateway's backend here. */
  readonly url: string;
  /** Resolves once a response matching `hold` is being held (at once if one already is). */
  waitForHeld(): Promise<void>;
  /** Passes the held responses on; later ones are no longer held. */
  release(): void;
  /** Stops the proxy and destroys its connections. */
  close(): Promise<void>;
}

/**
 * Starts a proxy that forwards every request to `target` unchanged and
 * holds the responses of requests matching `hold` until `release()`.
 *
 * Why: the wire-exact fakes answer at once or never (`hang`); a test of
 * "a stream that is still in flight when X happens and then finishes"
 * needs an upstream that waits for the test's signal, without sleeps and
 * without changing the fakes.
 *
 * @example
 * const proxy = await createGatedProxy({ target: fake.url, hold: (method, path) => method === "POST" });
 * // start a chat through a gateway whose backend URL is proxy.url …
 * await proxy.waitForHeld();
 * proxy.release();
 */
export async function createGatedProxy(options: {
  readonly target: string;
  readonly hold: (method: string, path: string) => boolean;
}): Promise<GatedProxy> {
  const target = new URL(options.target);
  const sockets = new Set<Socket>();
  let released = false;
  let heldCount = 0;
  const heldWaiters: Array<() => void> = [];
  let openGate: () => void = () => undefined;
  const gateOpened = new Promise<void>((resolve) => (openGate = resolve));

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = sendRequest(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      async (answer) => {
        if (!released && options.hold(incoming.method ?? "GET", incoming.url ?? "/")) {
          heldCount++;
          for (const wake of heldWaiters.splice(0)) wake();
          await gateOpened;
        }
        if (outgoing.destroyed) {
          answer.destroy();
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => outgoing.destroy());
    outgoing.on("close", () => upstream.destroy());
    incoming.pipe(upstream);
  };

  const server = createServer(forward);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    waitForHeld: () => (heldCount > 0 ? Promise.resolve() : new Promise<void>((resolve) => heldWaiters.push(resolve))),
    release() {
      released = true;
      openGate();
    },
    async close() {
      openGate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
