import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, InferenceService } from "../../../gen/protogate/v1/inference_service_pb.js";
import { createObservabilityInterceptor, createRefusedRpcRecorder } from "../../../server/interceptors/observability-interceptor.js";
import { createGatewayMetrics } from "../../../server/observability/metrics.js";
import { createRequestLogger } from "../../../server/observability/request-logger.js";
import { createRollingStats } from "../../../server/observability/rolling-stats.js";
import { createSessionTracker } from "../../../server/observability/session-tracker.js";
import { parseExposition, valueOf } from "../observability/exposition.js";

const chat = InferenceService.method.chat;

function unaryChat(): UnaryRequest {
  return {
    stream: false,
    service: InferenceService,
    method: chat,
    requestMethod: "POST",
    url: "http://127.0.0.1/protogate.v1.InferenceService/Chat",
    signal: new AbortController().signal,
    header: new Headers(),
    contextValues: createContextValues(),
    message: create(ChatRequestSchema, { model: "qwen" }),
  } as UnaryRequest;
}

function answer(): UnaryResponse {
  return {
    stream: false,
    service: InferenceService,
    method: chat,
    header: new Headers(),
    trailer: new Headers(),
    message: create(ChatResponseSchema, { model: "qwen" }),
  } as UnaryResponse;
}

const labels = { service: "protogate.v1.InferenceService", method: "Chat", model: "qwen", backend: "none" };

describe("observability interceptor", () => {
  it("answers first and records right after, with the duration measured when the RPC ended", async () => {
    let clock = 1000;
    const metrics = createGatewayMetrics({ knownModels: () => new Set(["qwen"]) });
    const logged: string[] = [];
    const logger = createRequestLogger({ destination: { write: (line: string) => void logged.push(line) } });
    const interceptor = createObservabilityInterceptor({ metrics, logger, now: () => clock });
    const handler = interceptor(async () => {
      clock += 5; // the handler took 5 ms
      return answer();
    });

    await handler(unaryChat());
    // The answer is back; the bookkeeping has not run yet, and time goes on.
    clock += 100;
    const countNow = async () =>
      parseExposition(await metrics.render()).filter((sample) => sample.name === "protogate_requests_total").length;
    expect(await countNow()).toBe(0);
    expect(logged).toHaveLength(0);

    await new Promise((resolve) => setImmediate(resolve));
    const samples = parseExposition(await metrics.render());
    expect(valueOf(samples, "protogate_requests_total", { ...labels, code: "ok" })).toBe(1);
    expect(valueOf(samples, "protogate_request_duration_seconds_sum", labels)).toBeCloseTo(0.005, 9);
    expect(valueOf(samples, "protogate_in_flight_requests", { service: labels.service, method: labels.method })).toBe(0);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] ?? "{}")).toMatchObject({ msg: "request", method: "Chat", model: "qwen", code: "ok", duration_ms: 5 });
  });

  it("records a failed RPC the same way, with its code", async () => {
    let clock = 0;
    const metrics = createGatewayMetrics({ knownModels: () => new Set(["qwen"]) });
    const interceptor = createObservabilityInterceptor({ metrics, now: () => clock });
    const handler = interceptor(async () => {
      clock += 2;
      throw new Error("boom");
    });
    await expect(handler(unaryChat())).rejects.toThrow("boom");
    await new Promise((resolve) => setImmediate(resolve));
    const samples = parseExposition(await metrics.render());
    expect(valueOf(samples, "protogate_requests_total", { ...labels, code: "unknown" })).toBe(1);
    expect(valueOf(samples, "protogate_request_duration_seconds_sum", labels)).toBeCloseTo(0.002, 9);
  });

  it("records a refused RPC like any other: counted, timed, logged with its session and trace, model and backend none", async () => {
    const metrics = createGatewayMetrics({ knownModels: () => new Set(["qwen"]) });
    const logged: string[] = [];
    const logger = createRequestLogger({ destination: { write: (line: string) => void logged.push(line) } });
    const stats = createRollingStats({ now: () => 0, sessions: createSessionTracker({ idleMs: 60_000, now: () => 0 }), knownModels: () => new Set(["qwen"]) });
    const recordRefused = createRefusedRpcRecorder({ metrics, stats, logger });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const requestHeader = new Headers({ "protogate-session-id": "s-1", traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const error = new ConnectError('cannot decode message protogate.v1.ChatRequest from JSON: key "modle" is unknown', Code.InvalidArgument);
    recordRefused({ service: InferenceService.typeName, method: "Chat", requestHeader, error, durationMs: 3 });
    // Like every record, it waits until the answer is on its way.
    expect(logged).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    const refused = { ...labels, model: "none", backend: "none" };
    const samples = parseExposition(await metrics.render());
    expect(valueOf(samples, "protogate_requests_total", { ...refused, code: "invalid_argument" })).toBe(1);
    expect(valueOf(samples, "protogate_request_duration_seconds_sum", refused)).toBeCloseTo(0.003, 9);
    // Not a rule of the contract (no Violations detail): the violations counter stays put.
    expect(samples.filter((sample) => sample.name === "protogate_request_violations_total")).toEqual([]);
    // The session from the header is open, and no longer error-free.
    expect([stats.sessions.active(), stats.sessions.ratio(60_000, { now: 0 })]).toEqual([1, 0]);
    expect(JSON.parse(logged[0] ?? "{}")).toMatchObject({
      msg: "request",
      level: "warn",
      method: "Chat",
      code: "invalid_argument",
      session_id: "s-1",
      trace_id: traceId,
      duration_ms: 3,
      error: { code: "invalid_argument", message: error.rawMessage },
    });
  });
});
