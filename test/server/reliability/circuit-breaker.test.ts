import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { abortToConnectError, connectErrorForFailure } from "../../../server/backends/upstream-failure.js";
import {
  type CircuitStateChange,
  breakerOutcomeForError,
  createCircuitBreaker,
} from "../../../server/reliability/index.js";
import { createFakeClock } from "./test-doubles.js";

function setup(options: Omit<Parameters<typeof createCircuitBreaker>[0] & object, "now"> = {}) {
  const clock = createFakeClock(1_000_000);
  const breaker = createCircuitBreaker({ ...options, now: clock.now });
  const changes: CircuitStateChange[] = [];
  breaker.onStateChange((change) => changes.push(change));
  return { clock, breaker, changes };
}

describe("createCircuitBreaker", () => {
  it("stays closed until minimumRequests calls are in the window", () => {
    const { breaker } = setup();
    for (let index = 0; index < 4; index += 1) {
      expect(breaker.canRequest()).toBe(true);
      breaker.record("failure");
    }
    expect(breaker.state()).toBe("closed");
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
    expect(breaker.canRequest()).toBe(false);
  });

  it("opens exactly when failures ÷ calls reaches failureRatio", () => {
    const { breaker, changes } = setup();
    for (const outcome of ["success", "success", "success", "failure", "failure"] as const) breaker.record(outcome);
    expect(breaker.state()).toBe("closed"); // 2 / 5 = 0.4
    breaker.record("failure"); // 3 / 6 = 0.5
    expect(breaker.state()).toBe("open");
    expect(changes).toEqual([{ from: "closed", to: "open", at: 1_000_000 }]);
  });

  it("lets one probe through after the cooldown, and closes with a fresh window on success", () => {
    const { clock, breaker, changes } = setup({ minimumRequests: 2, cooldownMs: 15_000 });
    breaker.record("failure");
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
    clock.advance(14_999);
    expect(breaker.canRequest()).toBe(false);
    clock.advance(1);
    expect(breaker.canRequest()).toBe(true); // the probe
    expect(breaker.state()).toBe("half-open");
    expect(breaker.canRequest()).toBe(false); // only one probe at a time
    breaker.record("success");
    expect(breaker.state()).toBe("closed");
    // The old failures are gone: one more failure does not reopen.
    breaker.record("failure");
    expect(breaker.state()).toBe("closed");
    expect(changes.map(({ from, to, at }) => `${from}>${to}@${at - 1_000_000}`)).toEqual([
      "closed>open@0",
      "open>half-open@15000",
      "half-open>closed@15000",
    ]);
  });

  it("re-opens when the probe fails, restarting the cooldown", () => {
    const { clock, breaker } = setup({ minimumRequests: 1, cooldownMs: 1000 });
    breaker.record("failure");
    clock.advance(1000);
    expect(breaker.canRequest()).toBe(true);
    clock.advance(200);
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
    clock.advance(999);
    expect(breaker.canRequest()).toBe(false);
    clock.advance(1);
    expect(breaker.canRequest()).toBe(true);
  });

  it("frees the probe slot on an ignored outcome, and re-leases a probe whose outcome never came", () => {
    const { clock, breaker } = setup({ minimumRequests: 1, cooldownMs: 1000 });
    breaker.record("failure");
    clock.advance(1000);
    expect(breaker.canRequest()).toBe(true);
    breaker.record("ignored"); // e.g. the client canceled the probe
    expect(breaker.state()).toBe("half-open");
    expect(breaker.canRequest()).toBe(true);
    // This probe's outcome is lost; after another cooldown a new probe may go.
    clock.advance(999);
    expect(breaker.canRequest()).toBe(false);
    clock.advance(1);
    expect(breaker.canRequest()).toBe(true);
  });

  it("forgets calls older than the window", () => {
    const { clock, breaker } = setup({ windowMs: 30_000 });
    for (let index = 0; index < 4; index += 1) breaker.record("failure");
    clock.advance(30_000);
    breaker.record("failure"); // 1 call in the window now
    expect(breaker.state()).toBe("closed");
    for (let index = 0; index < 3; index += 1) breaker.record("failure");
    expect(breaker.state()).toBe("closed"); // 4 calls
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
  });

  it("ignores ignored outcomes while closed and late outcomes while open", () => {
    const { clock, breaker } = setup({ minimumRequests: 2, cooldownMs: 1000 });
    for (let index = 0; index < 10; index += 1) breaker.record("ignored");
    breaker.record("failure");
    expect(breaker.state()).toBe("closed");
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
    for (let index = 0; index < 10; index += 1) breaker.record("success"); // started before it opened
    expect(breaker.state()).toBe("open");
    clock.advance(1000);
    expect(breaker.canRequest()).toBe(true);
  });

  it("unsubscribes listeners", () => {
    const { breaker } = setup({ minimumRequests: 1 });
    const seen: string[] = [];
    const unsubscribe = breaker.onStateChange(({ to }) => seen.push(to));
    unsubscribe();
    breaker.record("failure");
    expect(breaker.state()).toBe("open");
    expect(seen).toEqual([]);
  });
});

describe("breakerOutcomeForError", () => {
  const backendId = "llama";
  const http = (status: number) =>
    connectErrorForFailure({ kind: "http", status, bodyText: "", retryAfterMs: undefined }, { backendId });

  it("counts an unreachable or 5xx backend and its own timeout as failures", () => {
    expect(
      breakerOutcomeForError(connectErrorForFailure({ kind: "network", detail: "refused", cause: undefined }, { backendId })),
    ).toBe("failure");
    expect(breakerOutcomeForError(connectErrorForFailure({ kind: "truncated", cause: undefined }, { backendId }))).toBe("failure");
    for (const status of [500, 502, 503, 504]) expect(breakerOutcomeForError(http(status))).toBe("failure");
    expect(breakerOutcomeForError(abortToConnectError(new DOMException("t", "TimeoutError"), backendId))).toBe("failure");
  });

  it("counts a backend that judged the request as healthy", () => {
    for (const status of [400, 404, 422]) expect(breakerOutcomeForError(http(status))).toBe("success");
  });

  it("ignores what says nothing about health", () => {
    expect(breakerOutcomeForError(http(429))).toBe("ignored");
    expect(breakerOutcomeForError(connectErrorForFailure({ kind: "midstream", message: "x" }, { backendId }))).toBe("ignored");
    expect(breakerOutcomeForError(abortToConnectError(new Error("client left"), backendId))).toBe("ignored");
    expect(breakerOutcomeForError(new ConnectError("deadline", Code.DeadlineExceeded))).toBe("ignored");
    expect(breakerOutcomeForError(new ConnectError("shutting down", Code.Unavailable))).toBe("ignored");
    expect(breakerOutcomeForError(new Error("bug"))).toBe("ignored");
  });
});
