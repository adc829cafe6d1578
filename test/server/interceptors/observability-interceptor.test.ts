import { create } from "@bufbuild/protobuf";
import { createContextValues, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, InferenceService } from "../../../gen/protogate/v1/inference_service_pb.js";
import { createObservabilityInterceptor } from "../../../server/interceptors/observability-interceptor.js";
import { createGatewayMetrics } from "../../../server/observability/metrics.js";
import { createRequestLogger } from "../../../server/observability/request-logger.js";
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
});
