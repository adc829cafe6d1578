import type { LimiterTimers } from "../../../server/reliability/index.js";
import { createRandom } from "../../helpers/random-json.js";

/** A clock that moves only when told to. */
export interface FakeClock {
  now(): number;
  advance(ms: number): void;
  set(ms: number): void;
}

/** Creates a fake monotonic clock in milliseconds. */
export function createFakeClock(start = 0): FakeClock {
  let current = start;
  return {
    now: () => current,
    advance(ms) {
      current += ms;
    },
    set(ms) {
      current = ms;
    },
  };
}

/** A deterministic source of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  return createRandom(seed).next;
}

/** A deterministic source of random bytes built on seededRandom. */
export function seededBytes(seed: number): (size: number) => Uint8Array {
  const random = seededRandom(seed);
  return (size) => Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
}

/** Timers driven by `advance`, with a count of pending callbacks. */
export interface FakeTimers extends LimiterTimers {
  advance(ms: number): void;
  pending(): number;
}

/** Creates fake timers: callbacks run, in due order, only inside `advance`. */
export function createFakeTimers(clock: FakeClock = createFakeClock()): FakeTimers {
  let nextId = 1;
  const scheduled = new Map<number, { due: number; callback: () => void }>();
  return {
    setTimeout(callback, ms) {
      const id = nextId++;
      scheduled.set(id, { due: clock.now() + ms, callback });
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle === "number") scheduled.delete(handle);
    },
    advance(ms) {
      const target = clock.now() + ms;
      for (;;) {
        const due = [...scheduled.entries()].filter(([, entry]) => entry.due <= target).sort((a, b) => a[1].due - b[1].due || a[0] - b[0])[0];
        if (due === undefined) break;
        scheduled.delete(due[0]);
        clock.set(due[1].due);
        due[1].callback();
      }
      clock.set(target);
    },
    pending: () => scheduled.size,
  };
}

/** The state of a promise, readable synchronously after `flushMicrotasks`. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  state(): "pending" | "fulfilled" | "rejected";
  value(): T;
  reason(): unknown;
}

/** Tracks a promise's settlement without awaiting it. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  let state: "pending" | "fulfilled" | "rejected" = "pending";
  let value: T | undefined;
  let reason: unknown;
  promise.then(
    (result) => {
      state = "fulfilled";
      value = result;
    },
    (error: unknown) => {
      state = "rejected";
      reason = error;
    },
  );
  return {
    promise,
    state: () => state,
    value() {
      if (state !== "fulfilled") throw new Error(`promise is ${state}`);
      return value as T;
    },
    reason: () => reason,
  };
}

/** Lets pending promise callbacks run; no timers, no real time. */
export async function flushMicrotasks(): Promise<void> {
  for (let round = 0; round < 10; round += 1) await Promise.resolve();
}
