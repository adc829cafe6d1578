import { Code, ConnectError } from "@connectrpc/connect";
import { BackendErrorDetailSchema } from "../../gen/protogate/v1/errors_pb.js";
import type { BackendProbe } from "./backend.js";
import { asObject, asString } from "./json-guards.js";

/**
 * Why a call to a backend failed, before it is mapped to a Connect code.
 * Each backend's `errors.ts` turns these into ConnectErrors; the upstream
 * body stays in `cause` for the log and never reaches the client.
 */
export type UpstreamFailure =
  /** No HTTP answer: refused, reset, DNS, TLS. */
  | { readonly kind: "network"; readonly detail: string; readonly cause: unknown }
  /** An HTTP answer with an error status. */
  | {
      readonly kind: "http";
      readonly status: number;
      readonly bodyText: string;
      readonly retryAfterMs: number | undefined;
    }
  /** An error reported inside a 200 stream (Ollama's `{"error": …}` line). */
  | { readonly kind: "midstream"; readonly message: string }
  /** The connection ended before the stream's terminator. */
  | { readonly kind: "truncated"; readonly cause: unknown }
  /** The backend sent something that is not its documented format. */
  | { readonly kind: "protocol"; readonly detail: string }
  /** Our own signal fired: client cancel, deadline or backend timeout. */
  | { readonly kind: "aborted"; readonly reason: unknown };

/** An Error carrying an UpstreamFailure, thrown inside backend code. */
export class UpstreamError extends Error {
  constructor(readonly failure: UpstreamFailure) {
    super(`upstream failure: ${failure.kind}`);
    this.name = "UpstreamError";
  }
}

/**
 * Parses a Retry-After header (delay-seconds or an HTTP date) into
 * milliseconds. Anything else ("-1", "1.5", "soon") is ignored rather than
 * guessed at: Date.parse would read "-1" as a date in the past.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  const text = value?.trim() ?? "";
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP date format names the month, so a text without letters is not one.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The largest value of BackendErrorDetail's uint32 fields. */
const maxUint32 = 0xffffffff;

/** Options that let a backend adjust the shared mapping. */
export interface FailureMappingContext {
  readonly backendId: string;
  /** A safe, short description of an upstream HTTP error, if recognised. */
  readonly describeHttp?: (status: number, bodyText: string) => { code: Code; message: string } | undefined;
}

/**
 * Maps an UpstreamFailure to a ConnectError with a code that fits and a
 * BackendErrorDetail. Messages are written by us; upstream text is only
 * attached as `cause`.
 */
export function connectErrorForFailure(failure: UpstreamFailure, context: FailureMappingContext): ConnectError {
  const backend = context.backendId;
  // retry_after_ms is a uint32: a far-off Retry-After must not make the detail unencodable.
  const detail = (httpStatus: number, retryable: boolean, retryAfterMs = 0) =>
    ({ desc: BackendErrorDetailSchema, value: { backend, httpStatus, retryable, retryAfterMs: Math.min(retryAfterMs, maxUint32) } });
  switch (failure.kind) {
    case "network":
      return new ConnectError(
        `backend "${backend}" is unreachable (${failure.detail})`,
        Code.Unavailable,
        undefined,
        [detail(0, true)],
        failure.cause,
      );
    case "truncated":
      return new ConnectError(
        `backend "${backend}" closed the connection before the answer was complete`,
        Code.Unavailable,
        undefined,
        [detail(0, true)],
        failure.cause,
      );
    case "midstream":
      return new ConnectError(
        `backend "${backend}" reported an error during generation`,
        Code.Internal,
        undefined,
        [detail(200, false)],
        new Error(failure.message),
      );
    case "protocol":
      return new ConnectError(
        `backend "${backend}" sent a malformed response`,
        Code.Internal,
        undefined,
        [detail(200, false)],
        new Error(failure.detail),
      );
    case "aborted":
      return abortToConnectError(failure.reason, backend);
    case "http": {
      const cause = new Error(`HTTP ${failure.status}: ${failure.bodyText.slice(0, 2000)}`);
      const { code, message } = context.describeHttp?.(failure.status, failure.bodyText) ?? genericHttp(failure.status, backend);
      const retryable = isRetryableStatus(failure.status);
      return new ConnectError(message, code, undefined, [detail(failure.status, retryable, failure.retryAfterMs)], cause);
    }
  }
}

/**
 * Maps anything a backend call threw (an UpstreamError, or a network or
 * read failure not classified yet) to a ConnectError: the one mapping each
 * backend's `errors.ts` parameterises with what it recognises.
 */
export function backendCallError(error: unknown, signal: AbortSignal, context: FailureMappingContext): ConnectError {
  return connectErrorForFailure(toUpstreamError(error, signal).failure, context);
}

/**
 * The message of an upstream error body, for recognising known failures:
 * `{"error":{"message"}}` (OpenAI), `{"message"}` (vLLM) or `{"error": "…"}`
 * (Ollama, llama.cpp). A body that is not JSON is its own message.
 */
export function upstreamErrorMessage(bodyText: string): string {
  try {
    const body = asObject(JSON.parse(bodyText));
    return asString(asObject(body?.error)?.message) ?? asString(body?.message) ?? asString(body?.error) ?? "";
  } catch {
    return bodyText.slice(0, 500);
  }
}

/**
 * What a failed readiness probe found: a server that answered with an error
 * status cannot serve (`not-ready`); no answer at all is `down`, described
 * as `toConnectError` would describe it to a client.
 */
export function failedProbe(error: unknown, toConnectError: (error: unknown) => ConnectError): BackendProbe {
  if (error instanceof UpstreamError && error.failure.kind === "http") {
    return { kind: "not-ready", detail: `health check failed (HTTP ${error.failure.status})` };
  }
  return { kind: "down", detail: toConnectError(error).rawMessage };
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

function genericHttp(status: number, backend: string): { code: Code; message: string } {
  if (status === 400 || status === 422) {
    return { code: Code.InvalidArgument, message: `backend "${backend}" rejected the request (HTTP ${status})` };
  }
  if (status === 401 || status === 403) {
    return { code: Code.Internal, message: `backend "${backend}" rejected the gateway's credentials (HTTP ${status})` };
  }
  if (status === 404) {
    return { code: Code.NotFound, message: `backend "${backend}" does not have the model (HTTP 404)` };
  }
  if (status === 408 || status === 504) {
    return { code: Code.DeadlineExceeded, message: `backend "${backend}" timed out (HTTP ${status})` };
  }
  if (status === 429) {
    return { code: Code.ResourceExhausted, message: `backend "${backend}" is overloaded (HTTP 429)` };
  }
  if (status === 502 || status === 503) {
    return { code: Code.Unavailable, message: `backend "${backend}" is unavailable (HTTP ${status})` };
  }
  return { code: Code.Internal, message: `backend "${backend}" failed (HTTP ${status})` };
}

/**
 * Maps the reason our own AbortSignal fired to a ConnectError: a
 * ConnectError reason (set by connect for deadlines and shutdown) is kept,
 * a timeout is deadline_exceeded, anything else is canceled.
 */
export function abortToConnectError(reason: unknown, backend: string): ConnectError {
  if (reason instanceof ConnectError) return reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return new ConnectError(`backend "${backend}" did not answer within its timeout`, Code.DeadlineExceeded, undefined, undefined, reason);
  }
  return new ConnectError("request canceled", Code.Canceled, undefined, undefined, reason);
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
function describeNetworkError(error: unknown): string {
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
