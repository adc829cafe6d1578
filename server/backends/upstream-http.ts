import { UpstreamError, parseRetryAfter } from "./upstream-failure.js";

/** What an upstream call needs to be sent. */
export interface UpstreamRequest {
  readonly url: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly bodyText?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/**
 * Sends one request upstream over Node's fetch (undici keeps connections
 * alive and reuses them). Throws UpstreamError for network failures,
 * aborts and error statuses (reading the error body for the log), so
 * callers only ever see a 2xx Response.
 */
export async function sendUpstream(request: UpstreamRequest): Promise<Response> {
  let response: Response;
  try {
    const init: RequestInit = {
      method: request.method,
      headers: {
        ...(request.bodyText === undefined ? {} : { "content-type": "application/json" }),
        ...request.headers,
      },
      signal: request.signal,
    };
    if (request.bodyText !== undefined) init.body = request.bodyText;
    response = await fetch(request.url, init);
  } catch (error) {
    throw toUpstreamError(error, request.signal);
  }
  if (!response.ok) {
    const bodyText = await readTextSafely(response, request.signal);
    throw new UpstreamError({
      kind: "http",
      status: response.status,
      bodyText,
      retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
    });
  }
  return response;
}

/** Reads a whole body as text, mapping read failures like sendUpstream. */
export async function readBodyText(response: Response, signal: AbortSignal): Promise<string> {
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

async function readTextSafely(response: Response, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal.aborted) throw toUpstreamError(error, signal);
    return "";
  }
}

/**
 * Classifies an exception from fetch or a body read. Our signal firing
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

/** A short, safe description of a fetch failure (e.g. "connection refused"). */
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
