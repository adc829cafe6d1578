import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { UpstreamError, parseRetryAfter } from "./upstream-failure.js";

/** What an upstream call needs to be sent. */
export interface UpstreamRequest {
  readonly url: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly bodyText?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/** A 2xx answer from a backend, its body not yet read. */
export interface UpstreamResponse {
  readonly status: number;
  /** A response header, or null. */
  header(name: string): string | null;
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
export async function sendUpstream(request: UpstreamRequest): Promise<UpstreamResponse> {
  let message: IncomingMessage;
  try {
    message = await openRequest(request);
  } catch (error) {
    throw toUpstreamError(error, request.signal);
  }
  const response = wrapResponse(message);
  if (message.statusCode === undefined || message.statusCode < 200 || message.statusCode > 299) {
    const bodyText = await readTextSafely(response, request.signal);
    throw new UpstreamError({
      kind: "http",
      status: message.statusCode ?? 0,
      bodyText,
      retryAfterMs: parseRetryAfter(response.header("retry-after")),
    });
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
    status: message.statusCode ?? 0,
    header(name) {
      const value = message.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
    },
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

/**
 * Classifies an exception from a request or a body read. Our signal firing
 * wins over whatever error the abort caused.
 */
export function toUpstreamError(
  error: unknown,
  signal: AbortSignal,
  whenNotAborted: "network" | "truncated" = "network",
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (signal.aborted) return new UpstreamError({ kind: "aborted", reason: signal.reason });
  if (whenNotAborted === "truncated") return new UpstreamError({ kind: "truncated", cause: error });
  return new UpstreamError({ kind: "network", detail: describeNetworkError(error), cause: error });
}

/** A short, safe description of a network failure (e.g. "connection refused"). */
export function describeNetworkError(error: unknown): string {
  const code = findErrorCode(error);
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timeout";
    case "UND_ERR_HEADERS_TIMEOUT":
      return "no response headers in time";
    default:
      return code === undefined ? "network error" : code.toLowerCase();
  }
}

function findErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}
