import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createTimeoutSignal } from "../../../server/reliability/timeout-signal.js";

describe("createTimeoutSignal", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("fires with a TimeoutError after the limit", () => {
    const limit = createTimeoutSignal(new AbortController().signal, 1000, "too slow");
    vi.advanceTimersByTime(999);
    expect(limit.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(limit.signal.aborted).toBe(true);
    expect(limit.signal.reason).toBeInstanceOf(DOMException);
    expect((limit.signal.reason as DOMException).name).toBe("TimeoutError");
    expect((limit.signal.reason as DOMException).message).toBe("too slow");
  });

  it("fires with the parent's reason and stops its timer", () => {
    const parent = new AbortController();
    const limit = createTimeoutSignal(parent.signal, 1000, "too slow");
    const reason = new Error("client went away");
    parent.abort(reason);
    expect(limit.signal.reason).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("is aborted at once when the parent already is", () => {
    const parent = new AbortController();
    parent.abort("gone");
    expect(createTimeoutSignal(parent.signal, 1000, "x").signal.reason).toBe("gone");
  });

  it("never fires after dispose", () => {
    const parent = new AbortController();
    const limit = createTimeoutSignal(parent.signal, 1000, "x");
    limit.dispose();
    vi.advanceTimersByTime(5000);
    parent.abort();
    expect(limit.signal.aborted).toBe(false);
  });
});
