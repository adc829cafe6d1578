import { Code, ConnectError } from "@connectrpc/connect";
import { BackendErrorDetailSchema } from "../../gen/protogate/v1/errors_pb.js";

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
      const specific = context.describeHttp?.(failure.status, failure.bodyText);
      const { code, message, retryable } = specific
        ? { ...specific, retryable: isRetryableStatus(failure.status) }
        : genericHttp(failure.status, backend);
      return new ConnectError(message, code, undefined, [detail(failure.status, retryable, failure.retryAfterMs)], cause);
    }
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

function genericHttp(status: number, backend: string): { code: Code; message: string; retryable: boolean } {
  const retryable = isRetryableStatus(status);
  if (status === 400 || status === 422) {
    return { code: Code.InvalidArgument, message: `backend "${backend}" rejected the request (HTTP ${status})`, retryable };
  }
  if (status === 401 || status === 403) {
    return { code: Code.Internal, message: `backend "${backend}" rejected the gateway's credentials (HTTP ${status})`, retryable };
  }
  if (status === 404) {
    return { code: Code.NotFound, message: `backend "${backend}" does not have the model (HTTP 404)`, retryable };
  }
  if (status === 408 || status === 504) {
    return { code: Code.DeadlineExceeded, message: `backend "${backend}" timed out (HTTP ${status})`, retryable };
  }
  if (status === 429) {
    return { code: Code.ResourceExhausted, message: `backend "${backend}" is overloaded (HTTP 429)`, retryable };
  }
  if (status === 502 || status === 503) {
    return { code: Code.Unavailable, message: `backend "${backend}" is unavailable (HTTP ${status})`, retryable };
  }
  return { code: Code.Internal, message: `backend "${backend}" failed (HTTP ${status})`, retryable };
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
