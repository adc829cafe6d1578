import { type Http1Exchange, type Http1ExchangeHandlers, type Http1Origin, startHttp1Exchange } from "./http1-client.js";
import type { Http1ResponseHead } from "./http1-response-parser.js";
import { readLines } from "./line-reader.js";
import { QueuedBody } from "./queued-body.js";
import { UpstreamError, parseRetryAfter, toUpstreamError } from "./upstream-failure.js";

/**
 * The largest answer read from a backend unless configured otherwise
 * (`limits.maxBackendResponseBytes`): a whole body, or one line of a
 * stream. A backend that sends more fails the call instead of growing the
 * gateway's memory until the process dies.
 */
export const defaultMaxResponseBytes = 32 * 1024 * 1024;

/** How much of an error answer is read: plenty for the log and each backend's error mapping. */
const maxErrorBodyBytes = 64 * 1024;

/** Where a backend listens, parsed once per backend rather than once per request. */
interface UpstreamOrigin extends Http1Origin {
  /** The base URL's path without its trailing slash ("" for none). */
  readonly basePath: string;
  /**
   * Sent with every request after a call's own headers, so those never
   * replace them: the bearer token, or else the base URL's `user:password`
   * as basic authentication.
   */
  readonly headers: Readonly<Record<string, string>>;
}

/** What an upstream call needs to be sent. */
interface UpstreamRequest {
  readonly origin: UpstreamOrigin;
  /** Starts with "/"; appended to the origin's base path. */
  readonly path: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly bodyText?: string;
  /** The call's own headers (e.g. `traceparent`); the origin's are added to them. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly signal: AbortSignal;
  /** The most of a 2xx answer `text()` and `lines()` read. */
  readonly maxResponseBytes: number;
}

/** A 2xx answer from a backend, its body not yet read. Read it with `text()` or `lines()`, which hold it to the size limit. */
export interface UpstreamResponse {
  /** The `content-type` header as sent, lower-cased; "" when there was none. */
  readonly contentType: string;
  /** The whole body as UTF-8 text; longer than the limit, a protocol failure. */
  text(): Promise<string>;
  /** The body's lines (see readLines); a line longer than the limit is a protocol failure. */
  lines(signal: AbortSignal): AsyncGenerator<string>;
}

/** What reads an answer's body, chosen when its head arrives. */
type BodyHandlers = Omit<Http1ExchangeHandlers, "onHead">;

/**
 * Sends one request upstream and resolves with its 2xx head once it
 * arrives, the body queued for `text()` or `lines()`. Rejects with an
 * UpstreamError for network failures, aborts and error statuses (reading
 * the error body for the log), so callers only ever see a 2xx response.
 *
 * Why not `fetch`: undici builds WHATWG Request/Response/Headers objects
 * and web streams for every call; measured here (bench/cost-breakdown.ts)
 * that cost several hundred microseconds of CPU per request — more than
 * the rest of the gateway's own work for a unary chat. And not `node:http`
 * either: see http1-client.ts.
 */
function sendUpstream(request: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) =>
    startExchange(
      request,
      (head, exchange) => {
        const body = new QueuedBody(exchange);
        resolve({
          contentType: head.headers["content-type"]?.toLowerCase() ?? "",
          text: () => readWholeBody(body, request.maxResponseBytes),
          lines: (signal) => readLines(body, signal, request.maxResponseBytes),
        });
        return body;
      },
      reject,
    ),
  );
}

/**
 * Sends one request and reads its whole 2xx answer as text, with the
 * failures of `sendUpstream` and `readBodyText`, in one promise: a unary
 * chat and a GET wait on this instead of a chain of async functions (each
 * of them a promise and a microtask more per request), and the body goes
 * straight from the connection into one string.
 */
function exchangeText(request: UpstreamRequest): Promise<string> {
  return new Promise((resolve, reject) => startExchange(request, (_head, exchange) => new WholeTextBody(request, exchange, resolve, reject), reject));
}

/**
 * Collects a 2xx body into one string for exchangeText. A class rather
 * than closures: its methods are made once, not per request.
 */
class WholeTextBody implements BodyHandlers {
  readonly #body: BoundedChunks;
  readonly #request: UpstreamRequest;
  readonly #exchange: Http1Exchange;
  readonly #resolve: (text: string) => void;
  readonly #reject: (error: UpstreamError) => void;

  constructor(request: UpstreamRequest, exchange: Http1Exchange, resolve: (text: string) => void, reject: (error: UpstreamError) => void) {
    this.#body = new BoundedChunks(request.maxResponseBytes);
    this.#request = request;
    this.#exchange = exchange;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  onBody(chunk: Buffer): void {
    if (this.#body.add(chunk)) return;
    // Closed rather than drained: the rest may be arbitrarily long.
    this.#exchange.destroy();
    this.#reject(responseTooLong(this.#request.maxResponseBytes));
  }

  onEnd(): void {
    this.#resolve(this.#body.text());
  }

  onError(error: unknown): void {
    this.#reject(toUpstreamError(error, this.#request.signal, "truncated"));
  }
}

/**
 * Starts the request and, once a 2xx head arrives, hands its body to the
 * handlers `onSuccess` returns; calls `onFailure` once with an
 * UpstreamError for a network failure or an abort before that head, or
 * for an error status, after reading the first `maxErrorBodyBytes` of its
 * body for the log and the backend's error mapping.
 */
function startExchange(
  request: UpstreamRequest,
  onSuccess: (head: Http1ResponseHead, exchange: Http1Exchange) => BodyHandlers,
  onFailure: (error: UpstreamError) => void,
): void {
  const { signal } = request;
  let body: BodyHandlers | undefined;
  const exchange = startRequest(request, {
    onHead(head) {
      body = head.status >= 200 && head.status <= 299 ? onSuccess(head, exchange) : errorAnswerBody(head, exchange, signal, onFailure);
    },
    // A body only ever follows a head. Methods, not arrow functions: tsx names every arrow made per request.
    onBody(chunk) {
      body?.onBody(chunk);
    },
    onEnd() {
      body?.onEnd();
    },
    onError(error) {
      if (body !== undefined) body.onError(error);
      else onFailure(toUpstreamError(error, signal));
    },
  });
}

/**
 * Reads an error answer's first `maxErrorBodyBytes`, for the log and the
 * backend's error mapping, then fails with its UpstreamError. An answer
 * whose body breaks off is still that error, with what came of its body.
 */
function errorAnswerBody(head: Http1ResponseHead, exchange: Http1Exchange, signal: AbortSignal, onFailure: (error: UpstreamError) => void): BodyHandlers {
  const body = new BoundedChunks(maxErrorBodyBytes);
  const statusError = () =>
    new UpstreamError({ kind: "http", status: head.status, bodyText: body.text(), retryAfterMs: parseRetryAfter(head.headers["retry-after"] ?? null) });
  return {
    onBody(chunk) {
      if (body.add(chunk)) return;
      exchange.destroy();
      onFailure(statusError());
    },
    onEnd: () => onFailure(statusError()),
    onError: (error) => onFailure(signal.aborted ? toUpstreamError(error, signal) : statusError()),
  };
}

/**
 * Sends the request with the call's headers, then the origin's (so a
 * call's own `authorization` never replaces the credentials), then the
 * body's type and length. The signal closes the connection when it fires,
 * also while a body is still streaming.
 */
function startRequest(request: UpstreamRequest, handlers: Http1ExchangeHandlers): Http1Exchange {
  const { origin } = request;
  // One object per request, built with Object.assign rather than a spread: on Node 20
  // `{ ...headers }` followed by a new key gives each request a hidden class of its own (bench/hidden-classes.ts).
  const headers: Record<string, string | number> = Object.assign({}, request.headers, origin.headers);
  if (request.bodyText !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = Buffer.byteLength(request.bodyText);
  }
  return startHttp1Exchange(
    origin,
    { method: request.method, path: origin.basePath + request.path, headers, bodyText: request.bodyText },
    request.signal,
    handlers,
  );
}

/** The whole queued body as UTF-8; past `maxBytes` the read fails as a protocol failure, and leaving the loop closes the connection. */
async function readWholeBody(body: QueuedBody, maxBytes: number): Promise<string> {
  const whole = new BoundedChunks(maxBytes);
  for await (const chunk of body) if (!whole.add(chunk as Buffer)) throw responseTooLong(maxBytes);
  return whole.text();
}

/**
 * A body's pieces, kept up to `maxBytes`: a whole answer read as text
 * (past the limit, a protocol failure) or an error answer (past it, cut
 * for the log).
 */
class BoundedChunks {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Keeps as much of `chunk` as fits; false when some of it did not. */
  add(chunk: Buffer): boolean {
    const room = this.#maxBytes - this.#length;
    if (chunk.length <= room) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      return true;
    }
    if (room > 0) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#length = this.#maxBytes;
    }
    return false;
  }

  /** What was kept, as UTF-8. */
  text(): string {
    if (this.#chunks.length === 1) return (this.#chunks[0] as Buffer).toString("utf8");
    return Buffer.concat(this.#chunks, this.#length).toString("utf8");
  }
}

function responseTooLong(maxBytes: number): UpstreamError {
  return new UpstreamError({ kind: "protocol", detail: `the answer is longer than ${maxBytes} bytes (limits.maxBackendResponseBytes)` });
}

/** Where one backend is and how to authenticate to it. */
export interface UpstreamClientOptions {
  /** Base URL; trailing slashes are ignored. */
  readonly baseUrl: string;
  /** Bearer token, if the server wants one. */
  readonly apiKey?: string | undefined;
  /** The most of an answer read: a whole body, or one line of a stream (default `defaultMaxResponseBytes`). */
  readonly maxResponseBytes?: number | undefined;
}

/**
 * One backend's HTTP calls, with its base URL and credentials applied to
 * every request, so a backend only names paths.
 */
export interface UpstreamClient {
  /**
   * The base URL without trailing slashes and with any user and password
   * in it replaced by `***`: what status pages and logs may show (it is
   * in /readyz). Requests use the credentials all the same.
   */
  readonly baseUrl: string;
  /** The most of an answer read (the option, or `defaultMaxResponseBytes`); backends hold the tool calls of a stream to it too. */
  readonly maxResponseBytes: number;
  /** POSTs a JSON body. `headers` (e.g. `traceparent`) never replace the credentials. */
  post(path: string, bodyText: string, signal: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<UpstreamResponse>;
  /** POSTs a JSON body and reads the whole answer as text: `post` and then `readBodyText`, with their failures, in one promise. */
  postText(path: string, bodyText: string, signal: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<string>;
  /** GETs `path` and reads its whole body, so the connection goes back to the pool. */
  getText(path: string, signal: AbortSignal): Promise<string>;
  /** GETs `path` and parses its body as JSON; `what` names it in a protocol failure (default: the path). */
  getJson(path: string, signal: AbortSignal, what?: string): Promise<unknown>;
}

/**
 * Creates the HTTP client of one backend.
 *
 * @example
 * const upstream = createUpstreamClient({ baseUrl: "http://127.0.0.1:11434/" });
 * const tags = await upstream.getJson("/api/tags", signal);
 */
export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const origin = parseOrigin(baseUrl, options.apiKey);
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
  const postRequest = (path: string, bodyText: string, signal: AbortSignal, headers: Readonly<Record<string, string>> | undefined): UpstreamRequest =>
    ({ origin, path, method: "POST", bodyText, headers, signal, maxResponseBytes });
  const getText = (path: string, signal: AbortSignal) => exchangeText({ origin, path, method: "GET", signal, maxResponseBytes });
  return {
    baseUrl: withoutCredentials(baseUrl),
    maxResponseBytes,
    post: (path, bodyText, signal, headers) => sendUpstream(postRequest(path, bodyText, signal, headers)),
    postText: (path, bodyText, signal, headers) => exchangeText(postRequest(path, bodyText, signal, headers)),
    getText,
    async getJson(path, signal, what = path) {
      return parseUpstreamJson(await getText(path, signal), what);
    },
  };
}

/** `http://user:secret@host:8080/v1` → `http://***@host:8080/v1`; a URL without credentials unchanged. */
function withoutCredentials(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.username === "" && url.password === "") return baseUrl;
  url.username = "***";
  url.password = "";
  return url.href.replace(/\/+$/, "");
}

/**
 * The parts of a base URL a request needs, and the credentials every
 * request carries: the API key as a bearer token, or else the URL's user
 * and password as basic authentication (as `http.request(url)` would send
 * them). A URL without a port gets its scheme's default.
 */
function parseOrigin(baseUrl: string, apiKey: string | undefined): UpstreamOrigin {
  const url = new URL(baseUrl);
  const secure = url.protocol === "https:";
  // WHATWG URL keeps IPv6 literals bracketed; the connection wants them bare.
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const basePath = url.pathname.replace(/\/+$/, "");
  const basic = url.username === "" && url.password === "" ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  const authorization = apiKey !== undefined ? `Bearer ${apiKey}` : basic !== undefined ? `Basic ${Buffer.from(basic).toString("base64")}` : undefined;
  return { secure, hostname, port, basePath, headers: authorization === undefined ? {} : { authorization } };
}

/** Reads a whole body as text, mapping read failures like sendUpstream. */
export async function readBodyText(response: UpstreamResponse, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw toUpstreamError(error, signal, "truncated");
  }
}

/** Parses JSON from a backend, turning bad JSON into a protocol failure. */
export function parseUpstreamJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError({ kind: "protocol", detail: `${what} is not JSON: ${text.slice(0, 200)}` });
  }
}
