import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  type LimiterGauges,
  type Release,
  createConcurrencyLimiter,
  retryAfterMsOf,
} from "../../../server/reliability/index.js";
import { createFakeTimers, flushMicrotasks, track } from "./test-doubles.js";

const live = () => new AbortController().signal;

function setup(options: { maxConcurrent: number; maxQueue: number; queueTimeoutMs?: number; retryAfterHintMs?: number }) {
  const timers = createFakeTimers();
  const changes: LimiterGauges[] = [];
  const limiter = createConcurrencyLimiter({ ...options, name: "llama", timers, onChange: (gauges) => changes.push(gauges) });
  return { limiter, timers, changes };
}

function asConnectError(value: unknown): ConnectError {
  expect(value).toBeInstanceOf(ConnectError);
  return value as ConnectError;
}

describe("createConcurrencyLimiter", () => {
  it("grants slots at once under the limit", async () => {
    const { limiter } = setup({ maxConcurrent: 2, maxQueue: 0 });
    const first = track(limiter.acquire(live()));
    const second = track(limiter.acquire(live()));
    await flushMicrotasks();
    expect([first.state(), second.state()]).toEqual(["fulfilled", "fulfilled"]);
    expect(limiter.inFlight()).toBe(2);
    expect(limiter.queued()).toBe(0);
  });

  it("tryAcquire takes a free slot at once and never jumps the queue", async () => {
    const { limiter, changes } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const release = limiter.tryAcquire();
    expect(release).toBeTypeOf("function");
    expect(limiter.tryAcquire()).toBeUndefined();
    const waiter = track(limiter.acquire(live()));
    release?.();
    await flushMicrotasks();
    // The freed slot went to the waiter, so there is still none to take.
    expect(waiter.state()).toBe("fulfilled");
    expect(limiter.tryAcquire()).toBeUndefined();
    waiter.value()();
    release?.(); // a second call gives nothing back twice
    expect({ inFlight: limiter.inFlight(), queued: limiter.queued() }).toEqual({ inFlight: 0, queued: 0 });
    expect(changes.at(0)).toEqual({ inFlight: 1, queued: 0 });
  });

  it("queues in FIFO order and hands a released slot to the oldest waiter", async () => {
    const { limiter, changes } = setup({ maxConcurrent: 1, maxQueue: 2 });
    const releaseA = await limiter.acquire(live());
    const b = track(limiter.acquire(live()));
    const c = track(limiter.acquire(live()));
    await flushMicrotasks();
    expect([b.state(), c.state()]).toEqual(["pending", "pending"]);
    expect({ inFlight: limiter.inFlight(), queued: limiter.queued() }).toEqual({ inFlight: 1, queued: 2 });

    releaseA();
    await flushMicrotasks();
    expect([b.state(), c.state()]).toEqual(["fulfilled", "pending"]);
    expect({ inFlight: limiter.inFlight(), queued: limiter.queued() }).toEqual({ inFlight: 1, queued: 1 });

    b.value()();
    await flushMicrotasks();
    expect(c.state()).toBe("fulfilled");
    c.value()();
    expect({ inFlight: limiter.inFlight(), queued: limiter.queued() }).toEqual({ inFlight: 0, queued: 0 });
    expect(changes).toEqual([
      { inFlight: 1, queued: 0 },
      { inFlight: 1, queued: 1 },
      { inFlight: 1, queued: 2 },
      { inFlight: 1, queued: 1 },
      { inFlight: 1, queued: 0 },
      { inFlight: 0, queued: 0 },
    ]);
  });

  it("rejects with resource_exhausted and a retry hint when the queue is full", async () => {
    const { limiter } = setup({ maxConcurrent: 1, maxQueue: 1 });
    await limiter.acquire(live());
    void limiter.acquire(live());
    const error = asConnectError(await limiter.acquire(live()).catch((reason: unknown) => reason));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe('backend "llama" is at capacity (1 in flight, 1 queued, queue full); retry after about 1000 ms');
    expect(error.metadata.get("retry-after-ms")).toBe("1000");
    expect(error.metadata.get("retry-after")).toBe("1");
    expect(retryAfterMsOf(error)).toBe(1000);
    expect(limiter.queued()).toBe(1);
  });

  it("rejects at once when maxQueue is 0", async () => {
    const { limiter } = setup({ maxConcurrent: 1, maxQueue: 0, retryAfterHintMs: 2500 });
    await limiter.acquire(live());
    const error = asConnectError(await limiter.acquire(live()).catch((reason: unknown) => reason));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.metadata.get("retry-after-ms")).toBe("2500");
    expect(error.metadata.get("retry-after")).toBe("3");
  });

  it("rejects a waiter whose queue wait times out, and leaves the queue", async () => {
    const { limiter, timers } = setup({ maxConcurrent: 1, maxQueue: 4, queueTimeoutMs: 5000 });
    const release = await limiter.acquire(live());
    const waiter = track(limiter.acquire(live()));
    timers.advance(4999);
    await flushMicrotasks();
    expect(waiter.state()).toBe("pending");
    timers.advance(1);
    await flushMicrotasks();
    expect(waiter.state()).toBe("rejected");
    const error = asConnectError(waiter.reason());
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toContain("no slot freed within the 5000 ms queue timeout");
    expect(retryAfterMsOf(error)).toBe(5000);
    expect(limiter.queued()).toBe(0);
    release();
    expect(limiter.inFlight()).toBe(0);
  });

  it("clears the queue timer when a waiter gets its slot", async () => {
    const { limiter, timers } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 5000 });
    const release = await limiter.acquire(live());
    const waiter = track(limiter.acquire(live()));
    expect(timers.pending()).toBe(1);
    release();
    await flushMicrotasks();
    expect(waiter.state()).toBe("fulfilled");
    expect(timers.pending()).toBe(0);
    timers.advance(10_000);
    expect(limiter.inFlight()).toBe(1);
  });

  it("removes a waiter whose signal aborts, rejecting with canceled (or the ConnectError reason as is)", async () => {
    const { limiter, timers } = setup({ maxConcurrent: 1, maxQueue: 3, queueTimeoutMs: 5000 });
    const release = await limiter.acquire(live());
    const clientGone = new AbortController();
    const deadline = new AbortController();
    const timeout = new AbortController();
    const a = track(limiter.acquire(clientGone.signal));
    const b = track(limiter.acquire(deadline.signal));
    const c = track(limiter.acquire(timeout.signal));
    const d = track(limiter.acquire(live()));
    await flushMicrotasks();
    expect(d.state()).toBe("rejected"); // queue of 3 was full

    const cause = new Error("socket closed");
    clientGone.abort(cause);
    const deadlineError = new ConnectError("the operation timed out", Code.DeadlineExceeded);
    deadline.abort(deadlineError);
    timeout.abort(new DOMException("signal timed out", "TimeoutError"));
    await flushMicrotasks();
    const canceled = asConnectError(a.reason());
    expect(canceled.code).toBe(Code.Canceled);
    expect(canceled.cause).toBe(cause);
    expect(b.reason()).toBe(deadlineError);
    expect(asConnectError(c.reason()).code).toBe(Code.DeadlineExceeded);
    expect(limiter.queued()).toBe(0);
    expect(timers.pending()).toBe(0);

    // The slot is not handed to an aborted waiter.
    release();
    expect(limiter.inFlight()).toBe(0);
  });

  it("rejects an already-aborted signal without taking a slot", async () => {
    const { limiter } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const controller = new AbortController();
    controller.abort();
    const error = asConnectError(await limiter.acquire(controller.signal).catch((reason: unknown) => reason));
    expect(error.code).toBe(Code.Canceled);
    expect(limiter.inFlight()).toBe(0);
  });

  it("makes a second release harmless", async () => {
    const { limiter } = setup({ maxConcurrent: 1, maxQueue: 2 });
    const release = await limiter.acquire(live());
    const b = track(limiter.acquire(live()));
    const c = track(limiter.acquire(live()));
    release();
    release();
    await flushMicrotasks();
    expect([b.state(), c.state()]).toEqual(["fulfilled", "pending"]);
    expect(limiter.inFlight()).toBe(1);
    const releaseB: Release = b.value();
    releaseB();
    releaseB();
    await flushMicrotasks();
    c.value()();
    c.value()();
    expect({ inFlight: limiter.inFlight(), queued: limiter.queued() }).toEqual({ inFlight: 0, queued: 0 });
    await limiter.acquire(live());
    expect(limiter.inFlight()).toBe(1);
  });

  it("rejects nonsensical options", () => {
    expect(() => createConcurrencyLimiter({ maxConcurrent: 0, maxQueue: 1 })).toThrow(RangeError);
    expect(() => createConcurrencyLimiter({ maxConcurrent: 1, maxQueue: -1 })).toThrow(RangeError);
    expect(() => createConcurrencyLimiter({ maxConcurrent: 1.5, maxQueue: 1 })).toThrow(RangeError);
  });

  it("retryAfterMsOf is undefined for other errors", () => {
    expect(retryAfterMsOf(new ConnectError("x", Code.Unavailable))).toBeUndefined();
    expect(retryAfterMsOf(new Error("x"))).toBeUndefined();
  });
});
