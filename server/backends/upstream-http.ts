import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { UpstreamError, parseRetryAfter, toUpstreamError } from "./upstream-failure.js";

/** What an upstream call needs to be sent. */
interface UpstreamRequest {
  readonly url: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly bodyText?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/** A 2xx answer from a backend, its body not yet read. */
export interface UpstreamResponse {
  /** The body as it arrives; leaving the iteration early closes the connection. */
  readonly body: AsyncIterable<Uint8Array>;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
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
 * Throws UpstreamError for network failures, aborts and error statuses
 * (reading the error body for the log), so callers only ever see a 2xx
 * response.
 *
 * Why not `fetch`: undici builds WHATWG Request/Response/Headers objects
 * and web streams for every call; measured here (bench/cost-breakdown.ts)
 * that cost several hundred microseconds of CPU per request — more than
 * the rest of the gateway's own work for a unary chat.
 */
async function sendUpstream(request: UpstreamRequest): Promise<UpstreamResponse> {
  let message: IncomingMessage;
  try {
    message = await openRequest(request);
  } catch (error) {
    throw toUpstreamError(error, request.signal);
  }
  const response = wrapResponse(message);
  const status = message.statusCode ?? 0;
  if (status < 200 || status > 299) {
    const bodyText = await readTextSafely(response, request.signal);
    throw new UpstreamError({ kind: "http", status, bodyText, retryAfterMs: parseRetryAfter(message.headers["retry-after"] ?? null) });
  }
  return response;
}

function openRequest(request: UpstreamRequest): Promise<IncomingMessage> {
  const url = new URL(request.url);
  const secure = url.protocol === "https:";
  const headers: Record<string, string | number> = { ...request.headers };
  if (request.bodyText !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = Buffer.byteLength(request.bodyText);
  }
  return new Promise((resolve, reject) => {
    const options = { method: request.method, headers, signal: request.signal, agent: secure ? agents.https : agents.http };
    const outgoing = secure ? httpsRequest(url, options, resolve) : httpRequest(url, options, resolve);
    outgoing.once("error", reject);
    outgoing.end(request.bodyText);
  });
}

function wrapResponse(message: IncomingMessage): UpstreamResponse {
  return {
    body: message,
    async text() {
      const chunks: Buffer[] = [];
      for await (const chunk of message) chunks.push(chunk as Buffer);
      // An upstream that resets mid-body ends the iteration with an error above;
      // one that closes early without a reset is caught here.
      if (!message.complete) throw Object.assign(new Error("response ended before its end"), { code: "ECONNRESET" });
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

/** Where one backend is and how to authenticate to it. */
export interface UpstreamClientOptions {
  /** Base URL; trailing slashes are ignored. */
  readonly baseUrl: string;
  /** Bearer token, if the server wants one. */
  readonly apiKey?: string | undefined;
}

/**
 * One backend's HTTP calls, with its base URL and credentials applied to
 * every request, so a backend only names paths.
 */
export interface UpstreamClient {
  /** The base URL without trailing slashes. */
  readonly baseUrl: string;
  /** POSTs a JSON body. `headers` (e.g. `traceparent`) never replace the credentials. */
  post(path: string, bodyText: string, signal: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<UpstreamResponse>;
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
  const credentials: Readonly<Record<string, string>> =
    options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` };
  async function getText(path: string, signal: AbortSignal): Promise<string> {
    const response = await sendUpstream({ url: `${baseUrl}${path}`, method: "GET", headers: credentials, signal });
    return readBodyText(response, signal);
  }
  return {
    baseUrl,
    post: (path, bodyText, signal, headers) =>
      sendUpstream({
        url: `${baseUrl}${path}`,
        method: "POST",
        bodyText,
        headers: headers === undefined ? credentials : { ...headers, ...credentials },
        signal,
      }),
    getText,
    async getJson(path, signal, what = path) {
      return parseUpstreamJson(await getText(path, signal), what);
    },
  };
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

async function readTextSafely(response: UpstreamResponse, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal.aborted) throw toUpstreamError(error, signal);
    return "";
  }
}
