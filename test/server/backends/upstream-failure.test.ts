import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BackendErrorDetailSchema } from "../../../gen/protogate/v1/errors_pb.js";
import {
  abortToConnectError,
  connectErrorForFailure,
  parseRetryAfter,
  type UpstreamFailure,
} from "../../../server/backends/upstream-failure.js";

const context = { backendId: "b1" };

function http(status: number, bodyText = '{"error":{"message":"SECRET upstream text"}}', retryAfterMs?: number): UpstreamFailure {
  return { kind: "http", status, bodyText, retryAfterMs };
}

/** Code, message and detail of a mapped failure, for table comparisons. */
function summary(error: ConnectError) {
  const details = error.findDetails(BackendErrorDetailSchema);
  expect(details).toHaveLength(1);
  const detail = details[0];
  return {
    code: error.code,
    message: error.rawMessage,
    httpStatus: detail?.httpStatus,
    retryable: detail?.retryable,
    retryAfterMs: detail?.retryAfterMs,
  };
}

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-06-01T12:00:00Z");

  it.each([
    ["0", 0],
    ["2", 2000],
    ["120", 120_000],
    [" 7 ", 7000],
  ])("reads delay-seconds %j", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([
    ["Sun, 01 Jun 2025 12:00:30 GMT", 30_000],
    ["Sunday, 01-Jun-25 12:01:00 GMT", 60_000],
    ["Sun Jun  1 12:00:05 2025", 5000],
    ["Sun, 01 Jun 2025 11:00:00 GMT", 0],
  ])("reads the HTTP date %j relative to now", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([null, "", "   ", "soon", "-1", "1.5", "0x10", "1e3", "Infinity"])("ignores %j", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe("connectErrorForFailure", () => {
  it.each([
    [400, Code.InvalidArgument, 'backend "b1" rejected the request (HTTP 400)', false],
    [401, Code.Internal, `backend "b1" rejected the gateway's credentials (HTTP 401)`, false],
    [403, Code.Internal, `backend "b1" rejected the gateway's credentials (HTTP 403)`, false],
    [404, Code.NotFound, 'backend "b1" does not have the model (HTTP 404)', false],
    [408, Code.DeadlineExceeded, 'backend "b1" timed out (HTTP 408)', false],
    [418, Code.Internal, 'backend "b1" failed (HTTP 418)', false],
    [422, Code.InvalidArgument, 'backend "b1" rejected the request (HTTP 422)', false],
    [429, Code.ResourceExhausted, 'backend "b1" is overloaded (HTTP 429)', true],
    [500, Code.Internal, 'backend "b1" failed (HTTP 500)', false],
    [502, Code.Unavailable, 'backend "b1" is unavailable (HTTP 502)', true],
    [503, Code.Unavailable, 'backend "b1" is unavailable (HTTP 503)', true],
    [504, Code.DeadlineExceeded, 'backend "b1" timed out (HTTP 504)', true],
  ])("maps HTTP %i to its code, a message of our own and a detail", (status, code, message, retryable) => {
    const error = connectErrorForFailure(http(status), context);
    expect(summary(error)).toEqual({ code, message, httpStatus: status, retryable, retryAfterMs: 0 });
    expect(error.findDetails(BackendErrorDetailSchema)[0]?.backend).toBe("b1");
    expect(error.message).not.toContain("SECRET");
    expect(String(error.cause)).toContain(`HTTP ${status}: {"error":{"message":"SECRET upstream text"}}`);
  });

  it("carries Retry-After as retryAfterMs", () => {
    expect(summary(connectErrorForFailure(http(429, "", 2500), context)).retryAfterMs).toBe(2500);
  });

  it("caps retryAfterMs to what the uint32 field holds, so the detail still encodes", () => {
    const error = connectErrorForFailure(http(503, "", 1e15), context);
    const detail = error.findDetails(BackendErrorDetailSchema)[0];
    if (detail === undefined) throw new Error("no BackendErrorDetail");
    expect(detail.retryAfterMs).toBe(0xffffffff);
    expect(() => toBinary(BackendErrorDetailSchema, detail)).not.toThrow();
  });

  it("lets a backend describe an HTTP error it recognises, keeping retryability from the status", () => {
    const error = connectErrorForFailure(http(503, "Loading model"), {
      backendId: "b1",
      describeHttp: (status, bodyText) =>
        status === 503 && bodyText === "Loading model" ? { code: Code.Unavailable, message: "still loading" } : undefined,
    });
    expect(summary(error)).toEqual({ code: Code.Unavailable, message: "still loading", httpStatus: 503, retryable: true, retryAfterMs: 0 });
  });

  it.each<[UpstreamFailure, ReturnType<typeof summary>]>([
    [
      { kind: "network", detail: "connection refused", cause: new Error("ECONNREFUSED") },
      { code: Code.Unavailable, message: 'backend "b1" is unreachable (connection refused)', httpStatus: 0, retryable: true, retryAfterMs: 0 },
    ],
    [
      { kind: "truncated", cause: new Error("terminated") },
      {
        code: Code.Unavailable,
        message: 'backend "b1" closed the connection before the answer was complete',
        httpStatus: 0,
        retryable: true,
        retryAfterMs: 0,
      },
    ],
    [
      { kind: "midstream", message: "SECRET CUDA error" },
      { code: Code.Internal, message: 'backend "b1" reported an error during generation', httpStatus: 200, retryable: false, retryAfterMs: 0 },
    ],
    [
      { kind: "protocol", detail: "SECRET <html>" },
      { code: Code.Internal, message: 'backend "b1" sent a malformed response', httpStatus: 200, retryable: false, retryAfterMs: 0 },
    ],
  ])("maps a %j failure", (failure, expected) => {
    const error = connectErrorForFailure(failure, context);
    expect(summary(error)).toEqual(expected);
    expect(error.message).not.toContain("SECRET");
  });

  it("maps our own abort: a plain abort is canceled, a timeout deadline_exceeded, a ConnectError reason is kept", () => {
    const canceled = connectErrorForFailure({ kind: "aborted", reason: new DOMException("aborted", "AbortError") }, context);
    expect([canceled.code, canceled.rawMessage]).toEqual([Code.Canceled, "request canceled"]);
    const timedOut = connectErrorForFailure({ kind: "aborted", reason: new DOMException("timed out", "TimeoutError") }, context);
    expect([timedOut.code, timedOut.rawMessage]).toEqual([Code.DeadlineExceeded, 'backend "b1" did not answer within its timeout']);
    const shutdown = new ConnectError("server is shutting down", Code.Unavailable);
    expect(abortToConnectError(shutdown, "b1")).toBe(shutdown);
    expect(abortToConnectError("a string reason", "b1").code).toBe(Code.Canceled);
  });
});
