import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRouteDeadline } from "../../../server/reliability/route-deadline.js";

const routeMessage = "the request took longer than the route's deadline of 1000 ms";

describe("createRouteDeadline", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  // The clock the deadline reads; fake timers move it with advanceTimersByTime.
  const now = () => Date.now();

  function setup() {
    const parent = new AbortController();
    const deadline = createRouteDeadline(parent.signal, now() + 1000, 1000, now);
    return { parent, deadline };
  }

  it("tells whether it comes before a backend's time limit", () => {
    const { deadline } = setup();
    expect(deadline.endsWithin(1000)).toBe(false);
    expect(deadline.endsWithin(1001)).toBe(true);
    vi.advanceTimersByTime(600);
    expect(deadline.endsWithin(500)).toBe(true);
  });

  it("an attempt's limit ends at the deadline with the route's error, which throwIfPassed recognises", () => {
    const { deadline } = setup();
    vi.advanceTimersByTime(400);
    const limit = deadline.attemptLimit();
    vi.advanceTimersByTime(599);
    expect(limit.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(limit.signal.reason).toBeInstanceOf(ConnectError);
    expect([(limit.signal.reason as ConnectError).code, (limit.signal.reason as ConnectError).rawMessage]).toEqual([Code.DeadlineExceeded, routeMessage]);
    expect(() => deadline.throwIfPassed(limit.signal)).toThrow(limit.signal.reason as ConnectError);
  });

  it("a timer set just after the start runs the route's whole limit, so that concurrent requests' timers share one duration", () => {
    const { deadline } = setup();
    vi.advanceTimersByTime(3);
    const first = deadline.attemptLimit();
    vi.advanceTimersByTime(999);
    // 1002 ms after the start: a timer of exactly the remaining 997 ms would have fired.
    expect(first.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect((first.signal.reason as ConnectError).rawMessage).toBe(routeMessage);
  });

  it("throwIfPassed is quiet before the deadline, also for a limit stopped for another reason", () => {
    const { parent, deadline } = setup();
    const limit = deadline.attemptLimit();
    parent.abort(new Error("client went away"));
    expect(limit.signal.aborted).toBe(true);
    expect(() => deadline.throwIfPassed(limit.signal)).not.toThrow();
    vi.advanceTimersByTime(1000);
    expect(() => deadline.throwIfPassed()).toThrow(routeMessage);
  });

  it("makes one wait signal, aborted at the deadline, whose timer disposeWaits stops", () => {
    const { deadline } = setup();
    expect(vi.getTimerCount()).toBe(0);
    const wait = deadline.waitSignal();
    expect(deadline.waitSignal()).toBe(wait);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect((wait.reason as ConnectError).rawMessage).toBe(routeMessage);

    const other = setup().deadline;
    const otherWait = other.waitSignal();
    other.disposeWaits();
    vi.advanceTimersByTime(5000);
    expect(otherWait.aborted).toBe(false);
  });

  it("a wait signal follows the request's own signal", () => {
    const { parent, deadline } = setup();
    const wait = deadline.waitSignal();
    parent.abort("gone");
    expect(wait.reason).toBe("gone");
  });
});
