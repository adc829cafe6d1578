import { Code, ConnectError } from "@connectrpc/connect";
import { BackendErrorDetailSchema } from "../../gen/protogate/v1/errors_pb.js";

/** The three states of a circuit breaker. */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * What one call said about the backend's health:
 * - `success`: the backend answered sanely (including a 4xx about the request);
 * - `failure`: the backend looks unhealthy (no answer, 5xx, its own timeout);
 * - `ignored`: says nothing about health (client canceled, 429, gateway-side
 *   error); it frees the half-open probe slot without deciding anything.
 */
export type BreakerOutcome = "success" | "failure" | "ignored";

/** A state transition, as given to `onStateChange` listeners. */
export interface CircuitStateChange {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** The breaker clock's time of the change, in milliseconds. */
  readonly at: number;
}

/** Options of createCircuitBreaker. */
export interface CircuitBreakerOptions {
  /** Failures ÷ calls in the window at or above which the circuit opens (default 0.5). */
  readonly failureRatio?: number;
  /** Calls the window must hold before the ratio counts (default 5). */
  readonly minimumRequests?: number;
  /** Length of the sliding window, in milliseconds (default 30 000). */
  readonly windowMs?: number;
  /**
   * How long the circuit stays open before one probe is let through, in
   * milliseconds (default 15 000). Also the lease of a probe: if a probe's
   * outcome is never recorded, another probe is allowed after this long.
   */
  readonly cooldownMs?: number;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * A circuit breaker for one backend. The caller asks `canRequest()` before
 * each call and, for every call it was allowed to make, records exactly one
 * outcome. Which failures count is the caller's decision —
 * `breakerOutcomeForError` gives the gateway's default judgement.
 */
export interface CircuitBreaker {
  /**
   * Whether a call may go to the backend now. Closed: always. Open: no,
   * until `cooldownMs` has passed since it opened; then the circuit turns
   * half-open and this returns true once (the probe). Half-open: false while
   * the probe is out.
   */
  canRequest(): boolean;
  /**
   * Records the outcome of a call. Closed: counts into the window and opens
   * the circuit when the failure ratio is reached. Half-open: success
   * closes (with a fresh window), failure re-opens, ignored frees the probe
   * slot. Open: late outcomes of calls made before it opened are dropped.
   */
  record(outcome: BreakerOutcome): void;
  /** The current state. Reading does not advance it; `canRequest()` does. */
  state(): CircuitState;
  /** Calls `listener` on every transition. Returns an unsubscribe function. */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void;
}

/** Sub-buckets the sliding window is divided into; bounds memory at any request rate. */
const windowBuckets = 10;

/**
 * Creates a circuit breaker. The window is kept in 10 fixed sub-buckets,
 * so memory is constant and calls age out with a granularity of
 * `windowMs / 10`.
 *
 * @example
 * const breaker = createCircuitBreaker({ failureRatio: 0.5, minimumRequests: 5 });
 * breaker.onStateChange(({ to }) => metrics.setCircuitState(backendId, to));
 * if (!breaker.canRequest()) throw unavailableError;
 * try { await call(); breaker.record("success"); }
 * catch (error) { breaker.record(breakerOutcomeForError(error)); throw error; }
 */
export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const failureRatio = options.failureRatio ?? 0.5;
  const minimumRequests = options.minimumRequests ?? 5;
  const windowMs = options.windowMs ?? 30_000;
  const cooldownMs = options.cooldownMs ?? 15_000;
  const now = options.now ?? (() => performance.now());
  const bucketMs = windowMs / windowBuckets;

  const buckets = Array.from({ length: windowBuckets }, () => ({ index: Number.NaN, calls: 0, failures: 0 }));
  const listeners = new Set<(change: CircuitStateChange) => void>();
  let current: CircuitState = "closed";
  let openedAt = 0;
  let probeStartedAt: number | undefined;

  function transition(to: CircuitState, at: number): void {
    const from = current;
    if (from === to) return;
    current = to;
    for (const listener of [...listeners]) listener({ from, to, at });
  }

  function resetWindow(): void {
    for (const bucket of buckets) {
      bucket.index = Number.NaN;
      bucket.calls = 0;
      bucket.failures = 0;
    }
  }

  function count(failed: boolean, at: number): void {
    const index = Math.floor(at / bucketMs);
    const bucket = buckets[((index % windowBuckets) + windowBuckets) % windowBuckets];
    if (bucket === undefined) return;
    if (bucket.index !== index) {
      bucket.index = index;
      bucket.calls = 0;
      bucket.failures = 0;
    }
    bucket.calls += 1;
    if (failed) bucket.failures += 1;
  }

  function windowTotals(at: number): { calls: number; failures: number } {
    const newest = Math.floor(at / bucketMs);
    let calls = 0;
    let failures = 0;
    for (const bucket of buckets) {
      if (bucket.index > newest - windowBuckets && bucket.index <= newest) {
        calls += bucket.calls;
        failures += bucket.failures;
      }
    }
    return { calls, failures };
  }

  function open(at: number): void {
    openedAt = at;
    probeStartedAt = undefined;
    transition("open", at);
  }

  return {
    canRequest() {
      const at = now();
      switch (current) {
        case "closed":
          return true;
        case "open":
          if (at - openedAt < cooldownMs) return false;
          probeStartedAt = at;
          transition("half-open", at);
          return true;
        case "half-open":
          if (probeStartedAt !== undefined && at - probeStartedAt < cooldownMs) return false;
          probeStartedAt = at;
          return true;
      }
    },

    record(outcome) {
      const at = now();
      switch (current) {
        case "open":
          return;
        case "half-open":
          if (outcome === "success") {
            probeStartedAt = undefined;
            resetWindow();
            transition("closed", at);
          } else if (outcome === "failure") {
            open(at);
          } else {
            probeStartedAt = undefined;
          }
          return;
        case "closed": {
          if (outcome === "ignored") return;
          count(outcome === "failure", at);
          if (outcome !== "failure") return;
          const { calls, failures } = windowTotals(at);
          if (calls >= minimumRequests && failures / calls >= failureRatio) open(at);
          return;
        }
      }
    },

    state: () => current,

    onStateChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/**
 * The gateway's default judgement of what a failed backend call says about
 * the backend's health, for `CircuitBreaker.record`:
 * - `failure`: a BackendErrorDetail with HTTP status 0 (refused, reset,
 *   truncated) or ≥ 500 except via a 200 stream; or the backend's own
 *   timeout (deadline_exceeded caused by a `TimeoutError`).
 * - `success`: a BackendErrorDetail with a 4xx other than 429 — the backend
 *   is alive and judged the request.
 * - `ignored`: everything else — client cancel and client deadline, 429
 *   (busy is not broken; shedding load is the limiter's job), errors during
 *   a 200 stream (midstream/protocol; usually request-specific), and
 *   gateway-side errors without a BackendErrorDetail.
 */
export function breakerOutcomeForError(error: unknown): BreakerOutcome {
  if (!(error instanceof ConnectError)) return "ignored";
  const detail = error.findDetails(BackendErrorDetailSchema)[0];
  if (detail === undefined) {
    const cause: unknown = error.cause;
    const backendTimeout =
      error.code === Code.DeadlineExceeded && cause instanceof Error && cause.name === "TimeoutError";
    return backendTimeout ? "failure" : "ignored";
  }
  const status = detail.httpStatus;
  if (status === 0 || status >= 500) return "failure";
  if (status === 429 || status === 200) return "ignored";
  if (status >= 400) return "success";
  return "ignored";
}
