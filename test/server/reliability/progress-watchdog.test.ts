import { describe, expect, it, vi } from "vitest";
import { createProgressWatchdog } from "../../../server/reliability/progress-watchdog.js";

/** Resolves with the signal's reason when it aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true }));
}

const reasons = { firstEventReason: () => "first-event", idleReason: () => "idle" };

/** Runs `body` with vitest's fake timers (Date.now included), real ones again afterwards. */
function withFakeTimers(body: () => void): void {
  vi.useFakeTimers();
  try {
    body();
  } finally {
    vi.useRealTimers();
  }
}

describe("createProgressWatchdog", () => {
  it("fires the first-event reason when no event comes in time", async () => {
    const watchdog = createProgressWatchdog(new AbortController().signal, { firstEventMs: 30, idleMs: 1000, ...reasons });
    expect(await aborted(watchdog.signal)).toBe("first-event");
    watchdog.dispose();
  });

  it("switches to the idle limit after the first event and re-arms on progress", async () => {
    const watchdog = createProgressWatchdog(new AbortController().signal, { firstEventMs: 1000, idleMs: 60, ...reasons });
    watchdog.progress();
    // Progress every 20 ms, the consumer asking for each next event at once, keeps a 60 ms idle limit from firing.
    for (let index = 0; index < 5; index++) {
      watchdog.awaiting();
      await new Promise((resolve) => setTimeout(resolve, 20));
      watchdog.progress();
    }
    expect(watchdog.signal.aborted).toBe(false);
    watchdog.awaiting();
    expect(await aborted(watchdog.signal)).toBe("idle");
    watchdog.dispose();
  });

  it("stops the clock while the consumer holds an event, and counts a gap from its next request", () => {
    withFakeTimers(() => {
      const watchdog = createProgressWatchdog(new AbortController().signal, { firstEventMs: 1000, idleMs: 100, now: () => Date.now(), ...reasons });
      watchdog.progress(); // the first event; the consumer has it and is busy writing it to a slow client
      vi.advanceTimersByTime(10_000);
      expect(watchdog.signal.aborted).toBe(false);
      watchdog.awaiting();
      vi.advanceTimersByTime(99);
      expect(watchdog.signal.aborted).toBe(false);
      vi.advanceTimersByTime(1);
      expect(watchdog.signal.reason).toBe("idle");
      watchdog.dispose();
    });
  });

  it("stops a consumer that holds an event past the idle limit, with the reader's own reason", () => {
    withFakeTimers(() => {
      const options = { firstEventMs: 1000, idleMs: 100, now: () => Date.now(), readerIdleReason: () => "reader-idle", ...reasons };
      const watchdog = createProgressWatchdog(new AbortController().signal, options);
      watchdog.progress();
      watchdog.awaiting();
      vi.advanceTimersByTime(60);
      watchdog.progress(); // a second event after 60 ms: the backend is fine; the consumer now sits on it
      vi.advanceTimersByTime(99);
      expect(watchdog.signal.aborted).toBe(false);
      vi.advanceTimersByTime(1);
      expect(watchdog.signal.reason).toBe("reader-idle");
      watchdog.dispose();
    });
  });

  it("follows the parent's abort, with the parent's reason", async () => {
    const parent = new AbortController();
    const watchdog = createProgressWatchdog(parent.signal, { firstEventMs: 10_000, idleMs: 10_000, ...reasons });
    parent.abort("client went away");
    expect(watchdog.signal.reason).toBe("client went away");
    watchdog.dispose();
  });

  it("never fires after dispose", async () => {
    const watchdog = createProgressWatchdog(new AbortController().signal, { firstEventMs: 10, idleMs: 10, ...reasons });
    watchdog.dispose();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(watchdog.signal.aborted).toBe(false);
  });
});
