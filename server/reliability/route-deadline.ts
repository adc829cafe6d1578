import { Code, ConnectError } from "@connectrpc/connect";
import { type TimeoutSignal, createTimeoutSignal } from "./timeout-signal.js";

/**
 * A route's deadline (`maxDeadlineMs`) for one request, when it is shorter
 * than the client's: the point in time after which the request fails with
 * `deadline_exceeded`, whatever it is doing — waiting for a backend slot,
 * waiting to retry, or waiting for a backend's answer.
 *
 * Why not one AbortSignal for the whole request: on Node 20 an
 * AbortController, its listeners and its timer cost several microseconds
 * of CPU each (docs/benchmarks.md), and most requests find a free slot and
 * are answered by their first attempt. So the attempt's own timer also
 * carries the deadline when the deadline comes first (`attemptLimit`), and
 * a signal of its own is made only for a wait (`waitSignal`).
 */
export interface RouteDeadline {
  /** Whether the deadline comes within `ms` from now. */
  endsWithin(ms: number): boolean;
  /** A time limit for one attempt that ends at the deadline, with the route's error as the reason. */
  attemptLimit(): TimeoutSignal;
  /** The request's signal, also aborted at the deadline: for waits. Made on first use; `disposeWaits` stops its timer. */
  waitSignal(): AbortSignal;
  /** Throws the route's error when the deadline has passed, or when `limit` was stopped by it. */
  throwIfPassed(limit?: AbortSignal): void;
  /** Stops the timer of `waitSignal`, if it was made. */
  disposeWaits(): void;
}

/**
 * Creates the deadline of one request: `at` on the `now` clock, from a
 * route limit of `maxDeadlineMs` (which the error names).
 *
 * @example
 * const deadline = createRouteDeadline(context.signal, now() + policy.maxDeadlineMs, policy.maxDeadlineMs, now);
 * const limit = deadline.endsWithin(backendTimeoutMs) ? deadline.attemptLimit() : createTimeoutSignal(context.signal, backendTimeoutMs, "…");
 */
export function createRouteDeadline(parent: AbortSignal, at: number, maxDeadlineMs: number, now: () => number): RouteDeadline {
  const message = `the request took longer than the route's deadline of ${maxDeadlineMs} ms`;
  let error: ConnectError | undefined;
  // One error per request, so that a signal it stopped can be told by its reason.
  const reason = () => (error ??= new ConnectError(message, Code.DeadlineExceeded));
  const untilDeadline = () => createTimeoutSignal(parent, timerMs(at - now(), maxDeadlineMs), message, reason);
  let waits: TimeoutSignal | undefined;
  return {
    endsWithin: (ms) => at - now() < ms,
    attemptLimit: untilDeadline,
    waitSignal() {
      waits ??= untilDeadline();
      return waits.signal;
    },
    throwIfPassed(limit) {
      if ((limit !== undefined && limit.aborted && limit.reason === error) || now() >= at) throw reason();
    },
    disposeWaits() {
      waits?.dispose();
    },
  };
}

/**
 * How far a request's first steps may be from its start for its timer to
 * still run the route's whole `maxDeadlineMs`, a little late.
 */
const sharedDurationSlackMs = 5;

/**
 * The duration of a timer that ends at the deadline, `remainingMs` from
 * now. Node keeps one list of timers per duration: timers of one duration
 * cost a list insert each, but a duration of its own (a fraction of a
 * millisecond off the next request's) creates and drops a list, and keeps
 * one per request in flight in Node's priority queue (a small cost: about
 * 0.07 µs more per timer with 32 in flight, in a loop). So a timer set
 * within `sharedDurationSlackMs` of the request's start runs the route's
 * whole limit (ending at most that much late), as every first attempt
 * does; a later one (after a wait or a retry) runs what is left, in whole
 * milliseconds.
 */
function timerMs(remainingMs: number, maxDeadlineMs: number): number {
  if (maxDeadlineMs - remainingMs < sharedDurationSlackMs) return maxDeadlineMs;
  return Math.max(0, Math.ceil(remainingMs));
}
