import { CallAbortController } from "./call-abort-controller.js";

/** A signal that fires when a stream stops making progress. */
export interface ProgressWatchdog {
  /** Aborted with the parent's reason, or with a limit's reason when it passes. */
  readonly signal: AbortSignal;
  /**
   * Records progress (an event arrived, and the consumer has it). The first
   * call ends the wait for the first event; from then on the idle limit
   * applies to each gap. Until `awaiting()`, the clock is stopped: the
   * consumer, not the backend, is taking its time.
   */
  progress(): void;
  /** The consumer asks for the next event: the gap the idle limit measures starts now. */
  awaiting(): void;
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
  /**
   * The abort reason when the consumer holds an event longer than the idle
   * limit without asking for the next (a client that stopped reading);
   * absent: a consumer may take as long as it likes.
   */
  readonly readerIdleReason?: () => unknown;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * Creates a watchdog for a streamed backend call: a time-to-first-token
 * limit, then a stall (idle) limit between events. A gap counts from the
 * consumer asking for the next event, not from the last event: a client
 * that reads slowly holds the gateway's writes, so the gateway stops
 * asking the backend, and that gap is the client's. Counted from the last
 * event, a slow reader's stream was aborted as "backend stalled" and
 * charged to a backend that had long finished. A consumer that holds an
 * event longer than the idle limit is stopped too, with its own reason
 * (`readerIdleReason`): the backend would otherwise keep a generation
 * going for a client that reads nothing. One timer serves all three:
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
 * const events = backendEvents(watchdog.signal);
 * for (;;) { watchdog.awaiting(); const next = await events.next(); watchdog.progress(); … }
 * watchdog.dispose();
 */
export function createProgressWatchdog(parent: AbortSignal, options: ProgressWatchdogOptions): ProgressWatchdog {
  const now = options.now ?? (() => performance.now());
  const controller = new CallAbortController();
  let started = false;
  /** The consumer has the last event and has not asked for the next. */
  let holding = false;
  /** When the last event arrived, or when the consumer last asked for one. */
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
    if (holding && options.readerIdleReason === undefined) {
      arm(ms); // nothing to measure until the consumer asks again
      return;
    }
    if (waited >= ms) {
      controller.abort(holding ? options.readerIdleReason?.() : started ? options.idleReason() : options.firstEventReason());
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
      holding = true;
      if (started) return;
      started = true;
      // The idle limit replaces the first-event limit: re-arm for it.
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const idle = options.idleMs;
      if (idle !== undefined && !disposed && !controller.signal.aborted) arm(idle);
    },
    awaiting() {
      if (!holding) return;
      holding = false;
      lastProgress = now();
    },
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      parent.removeEventListener("abort", onAbort);
    },
  };
}
