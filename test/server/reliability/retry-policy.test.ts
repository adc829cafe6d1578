import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { openAiError } from "../../../server/backends/openai/errors.js";
import {
  UpstreamError,
  abortToConnectError,
  connectErrorForFailure,
} from "../../../server/backends/upstream-failure.js";
import { classifyFailure, createConcurrencyLimiter, createRetryPolicy } from "../../../server/reliability/index.js";
import { seededRandom } from "./test-doubles.js";

const backendId = "llama";

function httpError(status: number, retryAfterMs?: number, bodyText = "{}"): ConnectError {
  return connectErrorForFailure({ kind: "http", status, bodyText, retryAfterMs }, { backendId });
}
const refused = () =>
  connectErrorForFailure({ kind: "network", detail: "connection refused", cause: new Error("ECONNREFUSED") }, { backendId });
const truncated = () => connectErrorForFailure({ kind: "truncated", cause: new Error("socket hang up") }, { backendId });
const midstream = () => connectErrorForFailure({ kind: "midstream", message: "CUDA out of memory" }, { backendId });
const malformed = () => connectErrorForFailure({ kind: "protocol", detail: "not JSON" }, { backendId });

/** A policy whose random source always returns `value`. */
const fixed = (value: number, options: Parameters<typeof createRetryPolicy>[0] = {}) =>
  createRetryPolicy({ ...options, random: () => value });

const input = (error: unknown, attempt = 1, deadlineRemainingMs: number | undefined = undefined) => ({
  error,
  attempt,
  bytesSentToClient: false,
  deadlineRemainingMs,
});

describe("createRetryPolicy", () => {
  it("retries a refused connection with full-jitter exponential backoff", () => {
    const policy = fixed(0.5, { maxAttempts: 10 });
    expect(policy.decide(input(refused(), 1))).toEqual({ kind: "retry", delayMs: 50, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 2))).toEqual({ kind: "retry", delayMs: 100, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 3))).toEqual({ kind: "retry", delayMs: 200, reason: "connection-failed" });
    // base 100 × 2^4 = 1600, then capped at maxDelayMs 2000.
    expect(policy.decide(input(refused(), 5))).toEqual({ kind: "retry", delayMs: 800, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 6))).toEqual({ kind: "retry", delayMs: 1000, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 9))).toEqual({ kind: "retry", delayMs: 1000, reason: "connection-failed" });
  });

  it("honours the options for base and maximum delay", () => {
    const policy = fixed(0.999, { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 30 });
    expect(policy.decide(input(refused(), 1))).toEqual({ kind: "retry", delayMs: 9, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 2))).toEqual({ kind: "retry", delayMs: 19, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 4))).toEqual({ kind: "retry", delayMs: 29, reason: "connection-failed" });
  });

  it("spreads delays over the whole [0, ceiling) range (full jitter), deterministically with a seed", () => {
    const policy = createRetryPolicy({ maxAttempts: 5, random: seededRandom(42) });
    const delays: number[] = [];
    for (let index = 0; index < 2000; index += 1) {
      const decision = policy.decide(input(httpError(502), 3));
      if (decision.kind !== "retry") throw new Error("expected a retry");
      delays.push(decision.delayMs);
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(400);
    expect(Math.min(...delays)).toBeLessThan(10);
    expect(Math.max(...delays)).toBeGreaterThan(390);
    const mean = delays.reduce((sum, delay) => sum + delay, 0) / delays.length;
    expect(mean).toBeGreaterThan(185);
    expect(mean).toBeLessThan(215);
    // Same seed, same sequence.
    const again = createRetryPolicy({ maxAttempts: 5, random: seededRandom(42) }).decide(input(httpError(502), 3));
    expect(again).toEqual({ kind: "retry", delayMs: delays[0], reason: "bad-gateway" });
  });

  it("stops after maxAttempts (default 3)", () => {
    const policy = fixed(0.5);
    expect(policy.decide(input(refused(), 2)).kind).toBe("retry");
    expect(policy.decide(input(refused(), 3))).toEqual({ kind: "give-up", reason: "attempts-exhausted" });
    expect(fixed(0.5, { maxAttempts: 1 }).decide(input(refused(), 1))).toEqual({ kind: "give-up", reason: "attempts-exhausted" });
  });

  it("retries 502, 503, 504 and a truncated connection, each with its own reason", () => {
    const policy = fixed(0);
    expect(policy.decide(input(httpError(502)))).toEqual({ kind: "retry", delayMs: 0, reason: "bad-gateway" });
    expect(policy.decide(input(httpError(503)))).toEqual({ kind: "retry", delayMs: 0, reason: "backend-unavailable" });
    expect(policy.decide(input(httpError(504)))).toEqual({ kind: "retry", delayMs: 0, reason: "gateway-timeout" });
    expect(policy.decide(input(truncated()))).toEqual({ kind: "retry", delayMs: 0, reason: "connection-failed" });
  });

  it("recognises llama.cpp's model-loading 503 as mapped by the OpenAI backend", () => {
    const loading = openAiError(
      new UpstreamError({
        kind: "http",
        status: 503,
        bodyText: '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}',
        retryAfterMs: undefined,
      }),
      backendId,
      new AbortController().signal,
    );
    expect(loading.code).toBe(Code.Unavailable);
    expect(fixed(0.5).decide(input(loading))).toEqual({ kind: "retry", delayMs: 50, reason: "model-loading" });
  });

  it("waits at least the backend's Retry-After on 429, plus up to one base delay of jitter", () => {
    expect(fixed(0).decide(input(httpError(429, 1500)))).toEqual({ kind: "retry", delayMs: 1500, reason: "rate-limited" });
    expect(fixed(0.5).decide(input(httpError(429, 1500)))).toEqual({ kind: "retry", delayMs: 1550, reason: "rate-limited" });
    // Without a hint, 429 gets the ordinary backoff.
    expect(fixed(0.5).decide(input(httpError(429)))).toEqual({ kind: "retry", delayMs: 50, reason: "rate-limited" });
    // Retry-After on a 503 is honoured too.
    expect(fixed(0).decide(input(httpError(503, 700)))).toEqual({ kind: "retry", delayMs: 700, reason: "backend-unavailable" });
  });

  it("gives up when Retry-After exceeds the cap (default 5 × maxDelayMs = 10 s)", () => {
    expect(fixed(0).decide(input(httpError(429, 10_000)))).toEqual({ kind: "retry", delayMs: 10_000, reason: "rate-limited" });
    expect(fixed(0).decide(input(httpError(429, 10_001)))).toEqual({ kind: "give-up", reason: "retry-after-too-long" });
    expect(fixed(0, { maxRetryAfterMs: 30_000 }).decide(input(httpError(429, 20_000)))).toEqual({
      kind: "retry",
      delayMs: 20_000,
      reason: "rate-limited",
    });
  });

  it("never retries once bytes reached the client", () => {
    const policy = fixed(0);
    for (const error of [refused(), httpError(502), httpError(503), httpError(429, 100), truncated()]) {
      expect(policy.decide({ error, attempt: 1, bytesSentToClient: true, deadlineRemainingMs: undefined })).toEqual({
        kind: "give-up",
        reason: "bytes-sent",
      });
    }
  });

  it("never schedules a retry whose delay does not fit in the remaining deadline", () => {
    const policy = fixed(0.5);
    expect(policy.decide(input(refused(), 1, 51))).toEqual({ kind: "retry", delayMs: 50, reason: "connection-failed" });
    expect(policy.decide(input(refused(), 1, 50))).toEqual({ kind: "give-up", reason: "deadline-too-close" });
    expect(policy.decide(input(refused(), 1, 0))).toEqual({ kind: "give-up", reason: "deadline-too-close" });
    expect(policy.decide(input(httpError(429, 2000), 1, 1999))).toEqual({ kind: "give-up", reason: "deadline-too-close" });
  });

  it("never retries client errors, cancellation, client deadlines or mid-stream failures", () => {
    const policy = fixed(0);
    const clientDeadline = new ConnectError("the operation timed out", Code.DeadlineExceeded);
    const cases: [unknown, string][] = [
      [httpError(400), "client-error"],
      [httpError(422), "client-error"],
      [httpError(404), "client-error"],
      [abortToConnectError(new Error("client went away"), backendId), "canceled"],
      [abortToConnectError(clientDeadline, backendId), "deadline-exceeded"],
      [abortToConnectError(new DOMException("timed out", "TimeoutError"), backendId), "deadline-exceeded"],
      [httpError(408), "deadline-exceeded"],
      [midstream(), "midstream-error"],
      [malformed(), "midstream-error"],
      [new ConnectError("bug", Code.Internal), "midstream-error"],
      [httpError(500), "not-retryable"],
      [httpError(401), "not-retryable"],
      [new ConnectError("the gateway is shutting down", Code.Unavailable), "not-retryable"],
      [new TypeError("undefined is not a function"), "not-retryable"],
      ["a string", "not-retryable"],
    ];
    for (const [error, reason] of cases) {
      expect({ error: String(error), decision: policy.decide(input(error)) }).toEqual({
        error: String(error),
        decision: { kind: "give-up", reason },
      });
    }
  });

  it("does not retry the gateway's own capacity rejection (it has no BackendErrorDetail)", async () => {
    const limiter = createConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 0 });
    await limiter.acquire(new AbortController().signal);
    const rejection = await limiter.acquire(new AbortController().signal).catch((error: unknown) => error);
    expect(fixed(0).decide(input(rejection))).toEqual({ kind: "give-up", reason: "not-retryable" });
  });

  it("clamps a misbehaving random source", () => {
    expect(fixed(1).decide(input(refused()))).toEqual({ kind: "retry", delayMs: 99, reason: "connection-failed" });
    expect(fixed(-3).decide(input(refused()))).toEqual({ kind: "retry", delayMs: 0, reason: "connection-failed" });
    expect(fixed(Number.NaN).decide(input(refused()))).toEqual({ kind: "retry", delayMs: 0, reason: "connection-failed" });
  });

  it("classifyFailure exposes the error-only part of the decision", () => {
    expect(classifyFailure(httpError(429, 250))).toEqual({ kind: "retryable", reason: "rate-limited", retryAfterMs: 250 });
    expect(classifyFailure(httpError(400))).toEqual({ kind: "give-up", reason: "client-error" });
  });
});
