import { type Server as HttpServer, createServer as createHttpServer } from "node:http";
import { type Http2Server, type ServerHttp2Session, createServer as createHttp2Server } from "node:http2";
import { type AddressInfo, type Socket, createServer as createNetServer } from "node:net";
import { Duplex } from "node:stream";
import { InFlightList } from "../collections/in-flight-list.js";
import { defaultMaxConnections } from "./connection-limit.js";
import { refuseOverloaded } from "./load-shedding.js";
import type { NodeHandler, NodeRequest, NodeResponse } from "./probe-routes.js";

/** The HTTP/2 connection preface every h2c client sends first. */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Where to listen, and how long a client may take to say what it wants. */
export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** Time a new connection has to send its first bytes (default 10 s). */
  readonly firstBytesTimeoutMs?: number;
  /** Time an HTTP/1.1 request has to send all its headers (default 60 s, Node's). */
  readonly headersTimeoutMs?: number;
  /** Time an HTTP/1.1 request has to send its whole body (default 300 s, Node's). */
  readonly requestTimeoutMs?: number;
  /** Time an HTTP/2 connection may stay open without a stream before it is closed with GOAWAY (default 300 s). */
  readonly http2IdleTimeoutMs?: number;
  /** Streams one HTTP/2 connection may have open at once (default `defaultHttp2MaxConcurrentStreams`). */
  readonly http2MaxConcurrentStreams?: number;
  /** Client connections open at once; more are closed on arrival (default `defaultMaxConnections()`). */
  readonly maxConnections?: number;
  /** Called for each connection closed on arrival because `maxConnections` were open. */
  readonly onConnectionDropped?: () => void;
  /** Requests in flight at once; the next is answered `unavailable` before it is read (refuseOverloaded). Default: no limit. */
  readonly maxInFlight?: number;
  /** Requests never refused for `maxInFlight` (the probes); they still count as in flight. */
  readonly exemptFromInFlightLimit?: (request: NodeRequest) => boolean;
  /** Called for each request refused for `maxInFlight`. */
  readonly onShed?: () => void;
}

/**
 * Streams one HTTP/2 connection may have open at once, unless the
 * listener is given another number.
 * Node's default is 2³²−1: one connection opened 20 000 `Health/Watch`
 * streams and grew the gateway by 600 MB. gRPC and Connect clients wait
 * for a free stream rather than fail, so the limit costs a well-behaved
 * client nothing; a client that ignores it gets its extra streams refused
 * (REFUSED_STREAM) before any handler runs.
 */
export const defaultHttp2MaxConcurrentStreams = 256;

/** A listening server that serves HTTP/1.1 and h2c on one port. */
export interface DualProtocolServer {
  /** e.g. http://127.0.0.1:7070 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Requests that have started and not finished. */
  inFlight(): number;
  /**
   * Graceful shutdown: stops accepting connections, sends HTTP/2 GOAWAY and
   * closes idle HTTP/1.1 connections, waits up to `graceMs` for in-flight
   * requests, then calls `abortInFlight` (which should end them with an
   * error), waits up to `abortGraceMs` more, and destroys what is left.
   */
  close(options: { graceMs: number; abortGraceMs?: number; abortInFlight?: () => void }): Promise<void>;
}

/**
 * Serves one handler over HTTP/1.1 and cleartext HTTP/2 on the same port.
 *
 * Why: Node's `http2.createServer({ allowHTTP1: true })` only falls back to
 * HTTP/1.1 through TLS ALPN, so on plain TCP curl and browsers' HTTP/1.1
 * get nothing. We accept raw connections, look at the first bytes (the
 * h2c preface starts with "PRI * HTTP/2.0") and hand the socket to the
 * right server. gRPC needs HTTP/2; Connect and gRPC-Web work on both.
 *
 * @example
 * const server = await listenDualProtocol(handler, { host: "127.0.0.1", port: 0 });
 * await server.close({ graceMs: 10_000 });
 */
export async function listenDualProtocol(handler: NodeHandler, options: ListenOptions): Promise<DualProtocolServer> {
  const firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? 10_000;
  let inFlight = 0;
  let draining = false;
  const idleWaiters = new Set<() => void>();
  // Connections come and go with clients that do not keep them alive: not Sets (see InFlightList).
  const sockets = new InFlightList<Socket>();
  const sessions = new InFlightList<ServerHttp2Session>();

  const maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
  const tracked: NodeHandler = (request, response) => {
    if (inFlight >= maxInFlight && options.exemptFromInFlightLimit?.(request) !== true) {
      options.onShed?.();
      refuseOverloaded(request, response, maxInFlight);
      return;
    }
    inFlight++;
    if (draining && request.httpVersionMajor === 1) (response as NodeResponse).setHeader("connection", "close");
    response.once("close", () => {
      inFlight--;
      if (inFlight === 0) for (const wake of idleWaiters) wake();
    });
    handler(request, response);
  };

  const headersTimeout = options.headersTimeoutMs ?? 60_000;
  const http1: HttpServer = createHttpServer(
    {
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, options.requestTimeoutMs ?? 300_000),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(headersTimeout / 2)),
    },
    tracked,
  );
  // Node enforces both timeouts from a timer it starts when a server emits 'listening'. This one never listens
  // (connections are handed to it below), so without this a client sending a header line every few seconds kept
  // its connection, and its file descriptor, forever.
  http1.emit("listening");
  const http2: Http2Server = createHttp2Server(
    { settings: { maxConcurrentStreams: options.http2MaxConcurrentStreams ?? defaultHttp2MaxConcurrentStreams } },
    tracked,
  );
  http2.on("session", (session) => {
    const entry = sessions.add(session);
    session.once("close", () => sessions.remove(entry));
    if (draining) session.close();
    closeWhenIdle(session, options.http2IdleTimeoutMs ?? 300_000);
  });

  const net = createNetServer((socket) => {
    const entry = sockets.add(socket);
    socket.once("close", () => sockets.remove(entry));
    socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, http2Preface.length);
      const looksLikeHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      // A short prefix of the preface could still be either protocol.
      if (looksLikeHttp2 && compared < 4) return;
      socket.off("data", onData);
      socket.setTimeout(0);
      if (looksLikeHttp2) {
        http2.emit("connection", replayingStream(socket, received));
        return;
      }
      socket.pause();
      socket.unshift(received);
      http1.emit("connection", socket);
      socket.resume();
    };
    socket.on("data", onData);
  });
  net.maxConnections = options.maxConnections ?? defaultMaxConnections();
  net.on("drop", () => options.onConnectionDropped?.());

  await new Promise<void>((resolve, reject) => {
    net.once("error", reject);
    net.listen(options.port, options.host, () => {
      net.off("error", reject);
      resolve();
    });
  });
  const address = net.address() as AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;

  function waitForIdle(timeoutMs: number): Promise<void> {
    if (inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      idleWaiters.add(done);
    });
  }

  return {
    url: `http://${hostForUrl}:${address.port}`,
    host: address.address,
    port: address.port,
    inFlight: () => inFlight,
    async close({ graceMs, abortGraceMs = 2000, abortInFlight }) {
      draining = true;
      const netClosed = new Promise<void>((resolve) => net.close(() => resolve()));
      for (const session of sessions.values()) session.close();
      http1.closeIdleConnections();
      await waitForIdle(graceMs);
      if (inFlight > 0 && abortInFlight !== undefined) {
        abortInFlight();
        await waitForIdle(abortGraceMs);
      }
      // Sessions first: destroying one writes GOAWAY through its socket.
      for (const session of sessions.values()) session.destroy();
      for (const socket of sockets.values()) socket.destroy();
      http1.close();
      http2.close();
      await netClosed;
    },
  };
}

/**
 * Closes an HTTP/2 session (GOAWAY, then the socket once its streams are
 * done) after `idleMs` with no stream open. Node's HTTP/2 server has no
 * such limit: a client could hold any number of silent connections, and
 * their file descriptors, forever. HTTP/1.1 connections have Node's
 * keep-alive timeout; clients reconnect either way on their next call. A
 * stream that stays silent for longer (a model thinking) keeps its
 * connection.
 */
function closeWhenIdle(session: ServerHttp2Session, idleMs: number): void {
  let open = 0;
  const closeLater = () => setTimeout(() => session.close(), idleMs).unref();
  let timer: NodeJS.Timeout | undefined = closeLater();
  session.on("stream", (stream) => {
    open++;
    clearTimeout(timer);
    timer = undefined;
    stream.once("close", () => {
      open--;
      if (open === 0 && !session.closed && !session.destroyed) timer = closeLater();
    });
  });
  session.once("close", () => clearTimeout(timer));
}

/**
 * A stream that first replays bytes already read from `socket`, then
 * relays the socket both ways.
 *
 * Why: Node's HTTP/2 server reads from the socket's native handle, so
 * bytes we read to sniff the protocol cannot be pushed back with
 * `unshift()` (the HTTP/1.1 parser does see unshifted bytes). Handing it a
 * JS stream makes Node wrap it and read through JavaScript instead.
 */
function replayingStream(socket: Socket, alreadyRead: Buffer): Duplex {
  /**
   * Writes handed to the socket and not yet acknowledged. Node's HTTP/2
   * wrapper allows one write at a time and asserts (crashing the process)
   * if a new one starts while the last never finished, so when the socket
   * closes every pending write is finished with an error.
   */
  const pendingWrites = new Set<(error?: Error | null) => void>();
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (socket.destroyed) {
        callback(new Error("socket closed"));
        return;
      }
      let done = false;
      const finish = (error?: Error | null) => {
        if (done) return;
        done = true;
        pendingWrites.delete(finish);
        callback(error);
      };
      pendingWrites.add(finish);
      socket.write(chunk, finish);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  stream.push(alreadyRead);
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once("end", () => stream.push(null));
  socket.once("close", () => {
    for (const finish of [...pendingWrites]) finish(new Error("socket closed"));
    stream.destroy();
  });
  socket.once("error", (error) => stream.destroy(error));
  return stream;
}
