import { Code, ConnectError } from "@connectrpc/connect";
import { BackendErrorDetailSchema } from "../../gen/protogate/v1/errors_pb.js";

/**
 * Why a failed backend call is worth another attempt. A fixed set, so it
 * can label the `protogate_retries_total{reason}` metric.
 */
export type RetryReason =
  /** No HTTP answer, or the connection ended early: refused, reset, truncated. */
  | "connection-failed"
  /** HTTP 429 from the backend. */
  | "rate-limited"
  /** HTTP 502. */
  | "bad-gateway"
  /** HTTP 503 while the backend loads the model. */
  | "model-loading"
  /** Any other HTTP 503. */
  | "backend-unavailable"
  /** HTTP 504. */
  | "gateway-timeout";

/** Every RetryReason, for label allowlists. */
export const retryReasons: readonly RetryReason[] = [
  "connection-failed",
  "rate-limited",
  "bad-gateway",
  "model-loading",
  "backend-unavailable",
  "gateway-timeout",
];

/** Why the policy says not to retry. A fixed set, safe as a log field or label. */
export type GiveUpReason =
  /** Part of the answer already reached the client; a retry would duplicate or splice output. */
  | "bytes-sent"
  /** The client canceled. */
  | "canceled"
  /** The client's deadline (or the backend timeout) passed; no HTTP 504 from the backend. */
  | "deadline-exceeded"
  /** The request itself is wrong for this backend: invalid_argument, not_found, failed_precondition, … */
  | "client-error"
  /** The backend failed during generation (internal); repeating it would repeat the failure. */
  | "midstream-error"
  /** Not a backend failure the policy recognises as transient (no BackendErrorDetail, not retryable, other codes). */
  | "not-retryable"
  /** `maxAttempts` attempts have been made. */
  | "attempts-exhausted"
  /** The backoff delay would not fit in the remaining deadline. */
  | "deadline-too-close"
  /** The backend asked to wait longer (Retry-After) than `maxRetryAfterMs`. */
  | "retry-after-too-long";

/** What to do after a failed attempt. */
export type RetryDecision =
  | { readonly kind: "retry"; readonly delayMs: number; readonly reason: RetryReason }
  | { readonly kind: "give-up"; readonly reason: GiveUpReason };

/** What the policy needs to know about a failed attempt. */
export interface RetryInput {
  /** What the attempt threw, usually a ConnectError from a backend. */
  readonly error: unknown;
  /** The attempt that just failed, 1-based. */
  readonly attempt: number;
  /** Whether any byte of the answer has been sent to the client. */
  readonly bytesSentToClient: boolean;
  /** Milliseconds left before the request's deadline; undefined when there is none. */
  readonly deadlineRemainingMs: number | undefined;
}

/** Options of createRetryPolicy. */
export interface RetryPolicyOptions {
  /** Attempts in total, the first included (default 3). 1 disables retries. */
  readonly maxAttempts?: number;
  /** Backoff ceiling of the first retry, in milliseconds (default 100). */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling, in milliseconds (default 2000). */
  readonly maxDelayMs?: number;
  /**
   * Longest Retry-After the policy will wait for, in milliseconds (default
   * 5 × maxDelayMs, i.e. 10 s). A backend that asks for more gets no retry:
   * retrying earlier than it asked is impolite and usually fails again, so
   * the caller should fall back or fail fast instead.
   */
  readonly maxRetryAfterMs?: number;
  /** A source of numbers in [0, 1); Math.random by default. Inject a seeded one in tests. */
  readonly random?: () => number;
}

/** Decides whether and when to retry a failed backend call. Pure; holds no state. */
export interface RetryPolicy {
  decide(input: RetryInput): RetryDecision;
}

/**
 * Creates the gateway's retry policy for backend calls.
 *
 * A retry happens only when **all** hold:
 * - no byte of the answer has reached the client (`bytesSentToClient` is false);
 * - the error is a ConnectError carrying a `BackendErrorDetail` whose
 *   `retryable` is true, with one of these shapes:
 *   `unavailable` + HTTP status 0 (refused, reset, truncated before any
 *   output), HTTP 502, 503 (model loading or otherwise), 504, or 429;
 *   gateway-local errors (shutdown, capacity) carry no BackendErrorDetail
 *   and are never retried here;
 * - fewer than `maxAttempts` attempts were made;
 * - the delay fits in the remaining deadline (`delayMs < deadlineRemainingMs`).
 *
 * Delay: full-jitter exponential backoff,
 * `random() × min(maxDelayMs, baseDelayMs × 2^(attempt−1))`, rounded down.
 * When the backend sent Retry-After (`retryAfterMs > 0`), the delay is
 * `retryAfterMs + random() × baseDelayMs` (never earlier than asked; the
 * jitter spreads clients that got the same hint), and a Retry-After above
 * `maxRetryAfterMs` means give up.
 *
 * @example
 * const policy = createRetryPolicy({ maxAttempts: 3 });
 * const decision = policy.decide({ error, attempt: 1, bytesSentToClient: false, deadlineRemainingMs: 30_000 });
 * if (decision.kind === "retry") await sleep(decision.delayMs, signal);
 */
export function createRetryPolicy(options: RetryPolicyOptions = {}): RetryPolicy {
  const maxAttempts = options.maxAttempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 2000;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? maxDelayMs * 5;
  const random = options.random ?? Math.random;

  return {
    decide(input) {
      if (input.bytesSentToClient) return giveUp("bytes-sent");
      const classified = classifyFailure(input.error);
      if (classified.kind === "give-up") return classified;
      if (input.attempt >= maxAttempts) return giveUp("attempts-exhausted");

      let delayMs: number;
      if (classified.retryAfterMs > 0) {
        if (classified.retryAfterMs > maxRetryAfterMs) return giveUp("retry-after-too-long");
        delayMs = classified.retryAfterMs + Math.floor(unit(random) * baseDelayMs);
      } else {
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, input.attempt - 1));
        delayMs = Math.floor(unit(random) * ceiling);
      }
      if (input.deadlineRemainingMs !== undefined && delayMs >= input.deadlineRemainingMs) {
        return giveUp("deadline-too-close");
      }
      return { kind: "retry", delayMs, reason: classified.reason };
    },
  };
}

/** A failure sorted into "transient, with this reason" or "final". */
export type FailureClassification =
  | { readonly kind: "retryable"; readonly reason: RetryReason; readonly retryAfterMs: number }
  | { readonly kind: "give-up"; readonly reason: GiveUpReason };

const clientErrorCodes: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.PermissionDenied,
  Code.Unauthenticated,
]);

/**
 * Sorts a failure without looking at attempts, deadlines or whether output
 * was sent: the part of `decide` that depends on the error alone.
 * `retryAfterMs` is 0 when the backend gave no hint.
 */
export function classifyFailure(error: unknown): FailureClassification {
  if (!(error instanceof ConnectError)) return giveUp("not-retryable");
  if (error.code === Code.Canceled) return giveUp("canceled");
  if (clientErrorCodes.has(error.code)) return giveUp("client-error");
  const detail = error.findDetails(BackendErrorDetailSchema)[0];
  if (error.code === Code.DeadlineExceeded && detail?.httpStatus !== 504) return giveUp("deadline-exceeded");
  if (error.code === Code.Internal && (detail === undefined || detail.httpStatus === 200)) return giveUp("midstream-error");
  if (detail === undefined || !detail.retryable) return giveUp("not-retryable");
  const retryAfterMs = detail.retryAfterMs;
  switch (detail.httpStatus) {
    case 0:
      return error.code === Code.Unavailable
        ? { kind: "retryable", reason: "connection-failed", retryAfterMs }
        : giveUp("not-retryable");
    case 429:
      return { kind: "retryable", reason: "rate-limited", retryAfterMs };
    case 502:
      return { kind: "retryable", reason: "bad-gateway", retryAfterMs };
    case 503:
      return {
        kind: "retryable",
        reason: error.rawMessage.includes("loading") ? "model-loading" : "backend-unavailable",
        retryAfterMs,
      };
    case 504:
      return { kind: "retryable", reason: "gateway-timeout", retryAfterMs };
    default:
      return giveUp("not-retryable");
  }
}

function giveUp(reason: GiveUpReason): { readonly kind: "give-up"; readonly reason: GiveUpReason } {
  return { kind: "give-up", reason };
}

/** A random draw clamped to [0, 1), so a faulty source cannot produce negative or huge delays. */
function unit(random: () => number): number {
  const value = random();
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1 - Number.EPSILON) : 0;
}
