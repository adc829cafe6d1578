import { Agent as HttpAgent, type IncomingMessage, type RequestOptions, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { readLines } from "./line-reader.js";
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
interface UpstreamOrigin {
  readonly secure: boolean;
  readonly hostname: string;
  readonly port: number;
  /** The base URL's path without its trailing slash ("" for none). */
  readonly basePath: string;
  /** `user:password` from the base URL, for basic authentication, as `http.request(url)` would send it. */
  readonly auth?: string;
  /** Sent with every request (the bearer token), after a call's own headers, so those never replace them. */
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

/**
 * Keep-alive agents shared by every backend: upstream connections are
 * reused across requests instead of paying a TCP handshake each time.
 */
const agents = {
  http: new HttpAgent({ keepAlive: true, scheduling: "lifo" }),
  https: new HttpsAgent({ keepAlive: true, scheduling: "lifo" }),
};

/**
 * Sends one request upstream with `node:http` over a keep-alive agent.
 * Rejects with an UpstreamError for network failures, aborts and error statuses
 * (reading the error body for the log), so callers only ever see a 2xx
 * response.
 *
 * Why not `fetch`: undici builds WHATWG Request/Response/Headers objects
 * and web streams for every call; measured here (bench/cost-breakdown.ts)
 * that cost several hundred microseconds of CPU per request — more than
 * the rest of the gateway's own work for a unary chat.
 */
function sendUpstream(request: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => startExchange(request, (message) => resolve(wrapResponse(message, request.maxResponseBytes)), reject));
}

/**
 * Sends one request and reads its whole 2xx answer as text, with the
 * failures of `sendUpstream` and `readBodyText`, in one promise: a unary
 * chat and a GET wait on this instead of a chain of async functions (each
 * of them a promise and a microtask more per request).
 */
function exchangeText(request: UpstreamRequest): Promise<string> {
  const { signal } = request;
  return new Promise((resolve, reject) =>
    startExchange(
      request,
      (message) => collectBody(message, request.maxResponseBytes, "fail", resolve, (error) => reject(toUpstreamError(error, signal, "truncated"))),
      reject,
    ),
  );
}

/**
 * Starts the request and calls `onSuccess` with a 2xx response head, or
 * `onFailure` once with an UpstreamError: for a network failure or an
 * abort, or for an error status, after reading its body for the log.
 */
function startExchange(request: UpstreamRequest, onSuccess: (message: IncomingMessage) => void, onFailure: (error: UpstreamError) => void): void {
  const { signal } = request;
  startRequest(
    request,
    (message) => {
      const status = message.statusCode ?? 0;
      if (status >= 200 && status <= 299) onSuccess(message);
      else void statusError(message, status, signal).then(onFailure, onFailure);
    },
    (error) => onFailure(toUpstreamError(error, signal)),
  );
}

/** The UpstreamError of an answer with an error status, its body read for the log and each backend's error mapping. */
async function statusError(message: IncomingMessage, status: number, signal: AbortSignal): Promise<UpstreamError> {
  const bodyText = await readErrorBody(message, signal);
  return new UpstreamError({ kind: "http", status, bodyText, retryAfterMs: parseRetryAfter(message.headers["retry-after"] ?? null) });
}

/**
 * Starts the request and calls `onResponse` with the response head, or
 * `onError` once if the request fails before it. The signal is wired by
 * hand rather than with `http.request`'s `signal` option, and the origin
 * comes pre-parsed rather than as a URL: measured on this path, the
 * option, the URL and reading the body through an async iterator together
 * cost more CPU than the rest of the upstream hop (about 80 µs a request
 * at concurrency 1; see docs/benchmarks.md). The abort listener stays
 * until the response has closed, so an abort also ends a body that is
 * still streaming.
 */
function startRequest(request: UpstreamRequest, onResponse: (message: IncomingMessage) => void, onError: (error: unknown) => void): void {
  const { origin, signal } = request;
  if (signal.aborted) {
    onError(signal.reason);
    return;
  }
  // One object per request, built with Object.assign rather than a spread: on Node 20
  // `{ ...headers }` followed by a new key gives each request a hidden class of its own (bench/hidden-classes.ts).
  const headers: Record<string, string | number> = Object.assign({}, request.headers, origin.headers);
  if (request.bodyText !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = Buffer.byteLength(request.bodyText);
  }
  const options: RequestOptions = {
    method: request.method,
    hostname: origin.hostname,
    port: origin.port,
    path: origin.basePath + request.path,
    headers,
    agent: origin.secure ? agents.https : agents.http,
  };
  if (origin.auth !== undefined) options.auth = origin.auth;
  const outgoing = origin.secure ? httpsRequest(options, answered) : httpRequest(options, answered);
  const onAbort = () => outgoing.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
  function stopListening() {
    signal.removeEventListener("abort", onAbort);
  }
  function answered(message: IncomingMessage) {
    message.once("close", stopListening);
    onResponse(message);
  }
  signal.addEventListener("abort", onAbort, { once: true });
  outgoing.once("error", (error) => {
    stopListening();
    onError(error);
  });
  outgoing.end(request.bodyText);
}

function wrapResponse(message: IncomingMessage, maxBytes: number): UpstreamResponse {
  return {
    contentType: message.headers["content-type"]?.toLowerCase() ?? "",
    text: () => readWholeBody(message, maxBytes, "fail"),
    lines: (signal) => readLines(message, signal, maxBytes),
  };
}

/** The whole body as UTF-8 (see collectBody). */
function readWholeBody(message: IncomingMessage, maxBytes: number, overLimit: "fail" | "cut"): Promise<string> {
  return new Promise((resolve, reject) => collectBody(message, maxBytes, overLimit, resolve, reject));
}

/**
 * Reads the whole body as UTF-8 with plain stream events (an async
 * iterator costs more per call), then calls `onText`, or `onError` once.
 * Past `maxBytes` the connection is closed and the read fails as a
 * protocol failure, or (`cut`, for error bodies read for the log) ends
 * with what came so far.
 */
function collectBody(
  message: IncomingMessage,
  maxBytes: number,
  overLimit: "fail" | "cut",
  onText: (text: string) => void,
  onError: (error: unknown) => void,
): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let settled = false;
  const settle = (error: unknown, text?: string) => {
    if (settled) return;
    settled = true;
    if (text === undefined) onError(error);
    else onText(text);
  };
  message.on("data", (chunk: Buffer) => {
    length += chunk.length;
    if (length <= maxBytes) {
      chunks.push(chunk);
      return;
    }
    message.destroy();
    if (overLimit === "fail") {
      settle(new UpstreamError({ kind: "protocol", detail: `the answer is longer than ${maxBytes} bytes (limits.maxBackendResponseBytes)` }));
      return;
    }
    chunks.push(chunk.subarray(0, chunk.length - (length - maxBytes)));
    settle(undefined, Buffer.concat(chunks).toString("utf8"));
  });
  message.once("error", (error) => settle(error));
  message.once("end", () => settle(undefined, Buffer.concat(chunks).toString("utf8")));
  // An upstream that resets mid-body fails with an error above; one that
  // closes early without a reset only closes, and is caught here.
  message.once("close", () => {
    if (!message.complete) settle(Object.assign(new Error("response ended before its end"), { code: "ECONNRESET" }));
  });
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
  const origin = parseOrigin(baseUrl, options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` });
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

/** The parts of a base URL a request needs, and the headers every request carries; a URL without a port gets its scheme's default. */
function parseOrigin(baseUrl: string, headers: Readonly<Record<string, string>>): UpstreamOrigin {
  const url = new URL(baseUrl);
  const secure = url.protocol === "https:";
  // WHATWG URL keeps IPv6 literals bracketed; node:http wants them bare.
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const basePath = url.pathname.replace(/\/+$/, "");
  if (url.username === "" && url.password === "") return { secure, hostname, port, basePath, headers };
  return { secure, hostname, port, basePath, headers, auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` };
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

/** The first `maxErrorBodyBytes` of an error answer; "" when it cannot be read (unless our signal fired). */
async function readErrorBody(message: IncomingMessage, signal: AbortSignal): Promise<string> {
  try {
    return await readWholeBody(message, maxErrorBodyBytes, "cut");
  } catch (error) {
    if (signal.aborted) throw toUpstreamError(error, signal);
    return "";
  }
}
