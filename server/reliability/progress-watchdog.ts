/** A signal that fires when a stream stops making progress. */
export interface ProgressWatchdog {
  /** Aborted with the parent's reason, or with a limit's reason when it passes. */
  readonly signal: AbortSignal;
  /**
   * Records progress (an event arrived). The first call ends the wait for
   * the first event; from then on the idle limit applies to each gap.
   */
  progress(): void;
  /** Clears the timer and stops following the parent; call when the stream is over. */
  dispose(): void;
}

/** Options of createProgressWatchdog. */
export interface ProgressWatchdogOptions {
  /** Longest wait for the first event, in milliseconds; undefined: no limit. */
  readonly firstEventMs?: number | undefined;
  /** Longest gap between later events, in milliseconds; undefined: no limit. */
  readonly idleMs?: number | undefined;
  /** The abort reason when the first event is late. */
  readonly firstEventReason: () => unknown;
  /** The abort reason when a later gap is too long. */
  readonly idleReason: () => unknown;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * Creates a watchdog for a streamed backend call: a time-to-first-token
 * limit, then a stall (idle) limit between events. One timer serves both:
 * `progress()` only stores a time, and the timer, when it fires early,
 * re-arms itself for the rest of the gap, so a fast stream costs no timer
 * churn per token. Like createTimeoutSignal it holds its own timer, so the
 * signal cannot be collected before it fires (see timeout-signal.ts).
 *
 * @example
 * const watchdog = createProgressWatchdog(attemptSignal, {
 *   firstEventMs: 120_000, idleMs: 60_000,
 *   firstEventReason: () => new ConnectError("no first token in time", Code.DeadlineExceeded),
 *   idleReason: () => new ConnectError("the stream stalled", Code.DeadlineExceeded),
 * });
 * for await (const event of backendEvents(watchdog.signal)) { watchdog.progress(); … }
 * watchdog.dispose();
 */
export function createProgressWatchdog(parent: AbortSignal, options: ProgressWatchdogOptions): ProgressWatchdog {
  const now = options.now ?? (() => performance.now());
  const controller = new AbortController();
  let started = false;
  let lastProgress = now();
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;

  const limit = () => (started ? options.idleMs : options.firstEventMs);

  function arm(delayMs: number): void {
    timer = setTimeout(check, Math.max(0, delayMs));
  }

  function check(): void {
    timer = undefined;
    if (disposed || controller.signal.aborted) return;
    const ms = limit();
    if (ms === undefined) return;
    const waited = now() - lastProgress;
    if (waited >= ms) {
      controller.abort(started ? options.idleReason() : options.firstEventReason());
      return;
    }
    arm(ms - waited);
  }

  const onAbort = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    controller.abort(parent.reason);
  };
  if (parent.aborted) onAbort();
  else {
    parent.addEventListener("abort", onAbort, { once: true });
    const first = limit();
    if (first !== undefined) arm(first);
  }

  return {
    signal: controller.signal,
    progress() {
      lastProgress = now();
      if (started) return;
      started = true;
      // The idle limit replaces the first-event limit: re-arm for it.
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const idle = options.idleMs;
      if (idle !== undefined && !disposed && !controller.signal.aborted) arm(idle);
    },
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      parent.removeEventListener("abort", onAbort);
    },
  };
}
