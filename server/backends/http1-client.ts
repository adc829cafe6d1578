import { type Socket, connect as connectTcp, isIP } from "node:net";
import { connect as connectTls } from "node:tls";
import { Http1ParseError, type Http1ResponseHead, Http1ResponseParser, httpTokenPattern } from "./http1-response-parser.js";
import { UpstreamError } from "./upstream-failure.js";

/**
 * The gateway's HTTP/1.1 client for backends: keep-alive connections per
 * origin, one request at a time on each, requests written with one
 * `write` and answers read by http1-response-parser.ts.
 *
 * Why not `node:http`: its client builds a ClientRequest, an
 * IncomingMessage (a Readable) and a dozen listeners per request, and its
 * agent moves sockets between lists with events. Measured with a fixed
 * upstream in another process (docs/benchmarks.md), a keep-alive POST cost
 * this process 79–95 µs of CPU through `http.request` and 20–22 µs over a
 * bare socket — a sixth of a Chat's CPU in the gateway, for the one
 * protocol every local backend speaks.
 */

/** Where a request goes. */
export interface Http1Origin {
  readonly secure: boolean;
  /** A host name or an IP address (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
}

/** The request line, headers and body of one request. */
export interface Http1Request {
  readonly method: string;
  /** Starts with "/"; sent as is. */
  readonly path: string;
  /** Sent in this order after `Host`; names and values are checked for characters that would split the head. */
  readonly headers: Readonly<Record<string, string | number>>;
  readonly bodyText?: string | undefined;
}

/** Receives one exchange's answer. After `onEnd` or `onError` (called at most once, and never both) nothing more is called. */
export interface Http1ExchangeHandlers {
  onHead(head: Http1ResponseHead): void;
  onBody(chunk: Buffer): void;
  onEnd(): void;
  /** A network failure (with Node's error code), an abort (the signal's reason), or an answer that is not HTTP/1.1 (an UpstreamError). */
  onError(error: unknown): void;
}

/** Control over a running exchange: flow control for a body read slowly, and cancellation by the reader. */
export interface Http1Exchange {
  /** Stops reading from the connection until `resume`. */
  pause(): void;
  resume(): void;
  /** Closes the connection; no handler is called after it. */
  destroy(): void;
}

/** How long an idle connection is reused, unless the server's `Keep-Alive: timeout=N` asks for less: below common servers' 5 s. */
const defaultIdleMs = 4000;

/** Characters that would end a header line or the head early (and what Node's own client refuses). */
const headerValueForbidden = /[\r\n\0]/;
const pathForbidden = /[^\u0021-\u00ff]/;

/** One socket, kept between requests while the server allows it. */
class PooledConnection {
  readonly socket: Socket;
  readonly key: string;
  /** The exchange reading from this connection; undefined while idle. */
  exchange: RunningExchange | undefined;
  /** When it went idle (performance.now()) and how long it may stay so. */
  idleSince = 0;
  idleMs = defaultIdleMs;

  constructor(origin: Http1Origin, key: string) {
    this.key = key;
    const servername = isIP(origin.hostname) === 0 ? origin.hostname : undefined;
    this.socket = origin.secure
      ? connectTls({ host: origin.hostname, port: origin.port, ...(servername === undefined ? {} : { servername }) })
      : connectTcp({ host: origin.hostname, port: origin.port });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1000);
    // One set of listeners for the socket's life, rather than a set per request.
    this.socket.on("data", (chunk: Buffer) => {
      if (this.exchange === undefined) this.socket.destroy();
      else this.exchange.read(chunk);
    });
    this.socket.on("end", () => this.exchange?.closed());
    this.socket.on("error", (error) => this.exchange?.failed(error));
    this.socket.on("close", () => {
      forget(this);
      this.exchange?.closed();
    });
  }
}

/** Idle connections by origin; the most recently used last (LIFO keeps few connections warm). */
const idleByOrigin = new Map<string, PooledConnection[]>();

function acquire(origin: Http1Origin): PooledConnection {
  const key = `${origin.secure ? "s" : ""}${origin.hostname}:${origin.port}`;
  const idle = idleByOrigin.get(key);
  const now = performance.now();
  while (idle !== undefined && idle.length > 0) {
    const connection = idle.pop() as PooledConnection;
    if (!connection.socket.destroyed && now - connection.idleSince < connection.idleMs) {
      connection.socket.ref();
      return connection;
    }
    connection.socket.destroy();
  }
  return new PooledConnection(origin, key);
}

function release(connection: PooledConnection, head: Http1ResponseHead): void {
  connection.exchange = undefined;
  const hint = /(?:^|,)\s*timeout=(\d+)/i.exec(head.headers["keep-alive"] ?? "");
  connection.idleMs = hint === null ? defaultIdleMs : Math.min(defaultIdleMs, Number(hint[1]) * 1000 - 500);
  if (connection.socket.destroyed || connection.idleMs <= 0) {
    connection.socket.destroy();
    return;
  }
  // An idle connection does not keep the process alive, as with Node's keep-alive agent.
  connection.socket.unref();
  if (connection.socket.isPaused()) connection.socket.resume();
  connection.idleSince = performance.now();
  const idle = idleByOrigin.get(connection.key);
  if (idle === undefined) idleByOrigin.set(connection.key, [connection]);
  else idle.push(connection);
}

function forget(connection: PooledConnection): void {
  const idle = idleByOrigin.get(connection.key);
  const index = idle?.indexOf(connection) ?? -1;
  if (index !== -1) idle?.splice(index, 1);
}

/** One request and its answer on one connection. */
class RunningExchange implements Http1Exchange {
  readonly #connection: PooledConnection;
  readonly #handlers: Http1ExchangeHandlers;
  readonly #signal: AbortSignal;
  readonly #parser: Http1ResponseParser;
  #head: Http1ResponseHead | undefined;
  #ended = false;
  #settled = false;
  readonly #onAbort = () => this.#fail(this.#signal.reason);

  constructor(connection: PooledConnection, handlers: Http1ExchangeHandlers, signal: AbortSignal) {
    this.#connection = connection;
    this.#handlers = handlers;
    this.#signal = signal;
    this.#parser = new Http1ResponseParser(this);
    signal.addEventListener("abort", this.#onAbort);
  }

  // The parser's sink.
  onHead(head: Http1ResponseHead): void {
    this.#head = head;
    this.#handlers.onHead(head);
  }
  onBody(chunk: Buffer): void {
    if (!this.#settled) this.#handlers.onBody(chunk);
  }
  onEnd(): void {
    this.#ended = true;
  }

  read(chunk: Buffer): void {
    let extra: number;
    try {
      extra = this.#parser.execute(chunk);
    } catch (error) {
      this.#fail(error instanceof Http1ParseError ? notHttp(error) : error);
      return;
    }
    if (this.#ended) this.#finish(extra === 0 && this.#head?.keepAlive === true);
  }

  closed(): void {
    if (this.#settled) return;
    try {
      this.#parser.end();
    } catch {
      // As Node's client reports a connection that closes early: a reset, before the answer or in its body.
      const message = this.#parser.headRead ? "the response ended before its end" : "socket hang up";
      this.#fail(Object.assign(new Error(message), { code: "ECONNRESET" }));
      return;
    }
    this.#finish(false);
  }

  failed(error: unknown): void {
    this.#fail(error);
  }

  pause(): void {
    if (!this.#settled) this.#connection.socket.pause();
  }
  resume(): void {
    if (!this.#settled) this.#connection.socket.resume();
  }
  destroy(): void {
    if (this.#settle()) this.#connection.socket.destroy();
  }

  #finish(reusable: boolean): void {
    if (!this.#settle()) return;
    if (reusable && this.#head !== undefined) release(this.#connection, this.#head);
    else this.#connection.socket.destroy();
    this.#handlers.onEnd();
  }

  #fail(error: unknown): void {
    if (!this.#settle()) return;
    this.#connection.socket.destroy();
    this.#handlers.onError(error);
  }

  /** Ends the exchange once: stops listening for the abort and leaves the connection. False when it had already ended. */
  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.#signal.removeEventListener("abort", this.#onAbort);
    if (this.#connection.exchange === this) this.#connection.exchange = undefined;
    return true;
  }
}

/**
 * Sends `request` to `origin` on an idle keep-alive connection (or a new
 * one) and reports the answer to `handlers`. An abort of `signal` closes
 * the connection, so the backend sees the client leave, and reports the
 * signal's reason. A request whose head would be malformed is refused
 * before anything is sent.
 *
 * @example
 * startHttp1Exchange({ secure: false, hostname: "127.0.0.1", port: 8080 },
 *   { method: "GET", path: "/v1/models", headers: {} }, signal, handlers);
 */
export function startHttp1Exchange(origin: Http1Origin, request: Http1Request, signal: AbortSignal, handlers: Http1ExchangeHandlers): Http1Exchange {
  if (signal.aborted) return settledExchange(handlers, signal.reason);
  const head = requestHead(origin, request);
  if (typeof head !== "string") return settledExchange(handlers, head);
  const connection = acquire(origin);
  const exchange = new RunningExchange(connection, handlers, signal);
  connection.exchange = exchange;
  connection.socket.write(request.bodyText === undefined ? head : head + request.bodyText);
  return exchange;
}

/** The request line and headers, or the error that refuses them. */
function requestHead(origin: Http1Origin, request: Http1Request): string | Error {
  if (pathForbidden.test(request.path)) return invalid("ERR_UNESCAPED_CHARACTERS", "the request path contains unescaped characters");
  let host = origin.hostname.includes(":") ? `[${origin.hostname}]` : origin.hostname;
  if (origin.port !== (origin.secure ? 443 : 80)) host += `:${origin.port}`;
  let head = `${request.method} ${request.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`;
  for (const name in request.headers) {
    const value = String(request.headers[name]);
    if (!httpTokenPattern.test(name)) return invalid("ERR_INVALID_HTTP_TOKEN", `invalid header name ${JSON.stringify(name)}`);
    if (headerValueForbidden.test(value)) return invalid("ERR_INVALID_CHAR", `invalid character in header ${JSON.stringify(name)}`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

function invalid(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

/** An exchange that failed before it started: reports `error` on the next tick, as a failed connection would. */
function settledExchange(handlers: Http1ExchangeHandlers, error: unknown): Http1Exchange {
  let cancelled = false;
  process.nextTick(() => {
    if (!cancelled) handlers.onError(error);
  });
  return {
    pause() {},
    resume() {},
    destroy() {
      cancelled = true;
    },
  };
}

function notHttp(error: Http1ParseError): UpstreamError {
  return new UpstreamError({ kind: "protocol", detail: `the answer is not valid HTTP/1.1: ${error.message}` });
}
