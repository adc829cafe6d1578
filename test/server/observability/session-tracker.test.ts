import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type ClosedSession, createSessionTracker } from "../../../server/observability/index.js";
import { createFakeClock } from "../reliability/test-doubles.js";

const minute = 60_000;

function setup(options: { idleMs?: number; maxSessions?: number; maxModelsPerSession?: number } = {}) {
  const clock = createFakeClock(0);
  const tracker = createSessionTracker({ ...options, now: clock.now });
  const closed: ClosedSession[] = [];
  tracker.onSessionClosed((session) => closed.push(session));
  const ok = (sessionId: string, model = "qwen") => tracker.record({ sessionId, model, ok: true, code: "ok" });
  const fail = (sessionId: string, code: Code = Code.Unavailable, model = "qwen") =>
    tracker.record({ sessionId, model, ok: false, code });
  return { clock, tracker, closed, ok, fail };
}

describe("createSessionTracker", () => {
  it("closes idle sessions and counts them by outcome", () => {
    const { clock, tracker, closed, ok, fail } = setup({ idleMs: 30 * minute });
    ok("a");
    ok("a");
    ok("b");
    fail("b", Code.Internal);
    fail("b", Code.Unavailable);
    expect(tracker.active()).toBe(2);
    clock.advance(30 * minute - 1);
    expect(tracker.sweep()).toBe(0);
    clock.advance(1);
    expect(tracker.sweep()).toBe(2);
    expect(tracker.active()).toBe(0);
    expect(tracker.closed()).toEqual({ errorFree: 1, withErrors: 1, evicted: 0 });
    expect(closed).toEqual([
      { sessionId: "a", outcome: "error_free", reason: "idle", requests: 2, failedRequests: 0, firstErrorCode: undefined, startedAt: 0, lastSeenAt: 0 },
      { sessionId: "b", outcome: "with_errors", reason: "idle", requests: 3, failedRequests: 2, firstErrorCode: Code.Internal, startedAt: 0, lastSeenAt: 0 },
    ]);
  });

  it("keeps a session open while it is active, and closes idle ones lazily on record", () => {
    const { clock, tracker, ok } = setup({ idleMs: 30 * minute });
    ok("a");
    ok("b");
    clock.advance(20 * minute);
    ok("a");
    clock.advance(15 * minute); // b idle 35 min, a idle 15 min
    ok("c"); // record sweeps first
    expect(tracker.active()).toBe(2);
    expect(tracker.closed()).toEqual({ errorFree: 1, withErrors: 0, evicted: 0 });
    clock.advance(15 * minute); // a idle 30 min
    expect(tracker.sweep()).toBe(1);
    expect(tracker.active()).toBe(1);
  });

  it("evicts the least recently active session beyond maxSessions", () => {
    const { clock, tracker, closed, ok, fail } = setup({ maxSessions: 3 });
    fail("a");
    clock.advance(1);
    ok("b");
    clock.advance(1);
    ok("c");
    clock.advance(1);
    ok("a"); // a is now the most recent; b is the oldest
    ok("d");
    expect(tracker.active()).toBe(3);
    expect(closed.map(({ sessionId, reason, outcome }) => `${sessionId}:${reason}:${outcome}`)).toEqual(["b:evicted:error_free"]);
    expect(tracker.closed()).toEqual({ errorFree: 1, withErrors: 0, evicted: 1 });
    // Bounded under a flood of distinct ids.
    for (let index = 0; index < 10_000; index += 1) ok(`flood-${index}`);
    expect(tracker.active()).toBe(3);
    expect(tracker.closed().evicted).toBe(1 + 10_000);
  });

  it("computes the error-free ratio over sessions active within the window", () => {
    const { clock, tracker, ok, fail } = setup();
    fail("a"); // t = 0
    clock.set(4 * minute);
    ok("b");
    clock.set(9 * minute);
    ok("c");
    clock.set(10 * minute);
    expect(tracker.ratio(1 * minute)).toBe(1); // c only
    expect(tracker.ratio(5 * minute)).toBe(1); // c (b is 6 min old)
    expect(tracker.ratio(6 * minute)).toBe(1); // b, c
    expect(tracker.ratio(15 * minute)).toBeCloseTo(2 / 3, 12); // a, b, c
    expect(tracker.ratio(15 * minute, { now: 30 * minute })).toBeUndefined();
    expect(tracker.ratios([1 * minute, 15 * minute]).overall).toEqual([1, 2 / 3]);
  });

  it("judges each model on its own requests", () => {
    const { clock, tracker, ok, fail } = setup();
    fail("a", Code.Internal, "qwen");
    ok("a", "llama3");
    ok("b", "qwen");
    clock.advance(1000);
    expect(tracker.ratio(minute)).toBe(0.5);
    expect(tracker.ratio(minute, { model: "qwen" })).toBe(0.5);
    expect(tracker.ratio(minute, { model: "llama3" })).toBe(1);
    expect(tracker.ratio(minute, { model: "phi" })).toBeUndefined();
    const { byModel } = tracker.ratios([minute]);
    expect(Object.fromEntries(byModel)).toEqual({ qwen: [0.5], llama3: [1] });
  });

  it("bounds ids and models per session", () => {
    const { tracker, ok } = setup({ maxModelsPerSession: 2 });
    const prefix = "x".repeat(128);
    ok(`${prefix}-one`);
    ok(`${prefix}-two`);
    expect(tracker.active()).toBe(1);
    ok("s", "m1");
    ok("s", "m2");
    ok("s", "m3");
    expect([...tracker.ratios([minute]).byModel.keys()].sort()).toEqual(["m1", "m2", "qwen"]);
  });

  it("unsubscribes listeners", () => {
    const { clock, tracker, closed, ok } = setup({ idleMs: 10 });
    const seen: string[] = [];
    const unsubscribe = tracker.onSessionClosed((session) => seen.push(session.sessionId));
    unsubscribe();
    ok("a");
    clock.advance(10);
    tracker.sweep();
    expect(seen).toEqual([]);
    expect(closed).toHaveLength(1);
  });
});
