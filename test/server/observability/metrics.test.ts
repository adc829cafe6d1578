import { readFileSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ArgumentsStatus } from "../../../gen/protogate/v1/chat_pb.js";
import {
  createGatewayMetrics,
  createSessionTracker,
  durationBucketsSeconds,
  interTokenBucketsSeconds,
  overheadBucketsSeconds,
  timeToFirstTokenBucketsSeconds,
} from "../../../server/observability/index.js";
import { createFakeClock } from "../reliability/test-doubles.js";
import { find, parseExposition, valueOf } from "./exposition.js";

const inference = "protogate.v1.InferenceService";
const setup = (models: readonly string[] = ["qwen", "llama3"]) => {
  const known = new Set(models);
  return createGatewayMetrics({ knownModels: () => known });
};
const scrape = async (metrics: ReturnType<typeof setup>) => parseExposition(await metrics.render());

describe("createGatewayMetrics", () => {
  it("counts requests by service, method, model, backend and code", async () => {
    const metrics = setup();
    const base = { service: inference, method: "Chat", model: "qwen", backend: "llama", durationMs: 10 } as const;
    metrics.recordRequest({ ...base, code: "ok" });
    metrics.recordRequest({ ...base, code: "ok" });
    metrics.recordRequest({ ...base, code: "ok" });
    metrics.recordRequest({ ...base, code: Code.Unavailable });
    metrics.recordRequest({ ...base, method: "ChatStream", code: Code.InvalidArgument });
    const samples = await scrape(metrics);
    const labels = { service: inference, method: "Chat", model: "qwen", backend: "llama" };
    expect(valueOf(samples, "protogate_requests_total", { ...labels, code: "ok" })).toBe(3);
    expect(valueOf(samples, "protogate_requests_total", { ...labels, code: "unavailable" })).toBe(1);
    expect(valueOf(samples, "protogate_requests_total", { ...labels, method: "ChatStream", code: "invalid_argument" })).toBe(1);
    expect(find(samples, "protogate_requests_total")).toHaveLength(3);
  });

  it("observes total, upstream and gateway-overhead durations in seconds", async () => {
    const metrics = setup();
    metrics.recordRequest({
      service: inference,
      method: "Chat",
      model: "qwen",
      backend: "llama",
      code: "ok",
      durationMs: 812,
      upstreamMs: 809,
    });
    const samples = await scrape(metrics);
    const rpc = { service: inference, method: "Chat" };
    const duration = { ...rpc, model: "qwen", backend: "llama" };
    expect(valueOf(samples, "protogate_request_duration_seconds_bucket", { ...duration, le: "0.5" })).toBe(0);
    expect(valueOf(samples, "protogate_request_duration_seconds_bucket", { ...duration, le: "1" })).toBe(1);
    expect(valueOf(samples, "protogate_request_duration_seconds_sum", duration)).toBeCloseTo(0.812, 9);
    expect(valueOf(samples, "protogate_request_duration_seconds_count", duration)).toBe(1);
    expect(valueOf(samples, "protogate_upstream_duration_seconds_sum", { model: "qwen", backend: "llama" })).toBeCloseTo(0.809, 9);
    // Overhead: 812 − 809 = 3 ms, in the (2.5 ms, 5 ms] bucket.
    expect(valueOf(samples, "protogate_gateway_overhead_seconds_bucket", { ...rpc, le: "0.0025" })).toBe(0);
    expect(valueOf(samples, "protogate_gateway_overhead_seconds_bucket", { ...rpc, le: "0.005" })).toBe(1);
    expect(valueOf(samples, "protogate_gateway_overhead_seconds_sum", rpc)).toBeCloseTo(0.003, 9);
  });

  it("counts tokens in and out", async () => {
    const metrics = setup();
    const base = { service: inference, method: "Chat", model: "qwen", backend: "llama", code: "ok", durationMs: 5 } as const;
    metrics.recordRequest({ ...base, tokensIn: 120, tokensOut: 64 });
    metrics.recordRequest({ ...base, tokensIn: 30, tokensOut: 6 });
    metrics.recordRequest({ ...base, tokensIn: Number.NaN, tokensOut: -1 });
    const samples = await scrape(metrics);
    expect(valueOf(samples, "protogate_tokens_total", { model: "qwen", backend: "llama", direction: "in" })).toBe(150);
    expect(valueOf(samples, "protogate_tokens_total", { model: "qwen", backend: "llama", direction: "out" })).toBe(70);
  });

  it("keeps label cardinality bounded: 1,000 unknown model names make one 'unknown' series", async () => {
    const metrics = setup();
    for (let index = 0; index < 1000; index += 1) {
      const record = { service: inference, method: "Chat", model: `attacker-${index}`, backend: "llama", code: Code.NotFound, durationMs: 1 };
      metrics.recordRequest(record);
      metrics.observeFirstToken({ model: record.model, backend: "llama", ttftMs: 1 });
      metrics.recordToolCallParseFailure({ model: record.model, status: ArgumentsStatus.INVALID_JSON });
    }
    const samples = await scrape(metrics);
    const requests = find(samples, "protogate_requests_total");
    expect(requests).toHaveLength(1);
    expect(requests[0]?.labels).toEqual({ service: inference, method: "Chat", model: "unknown", backend: "llama", code: "not_found" });
    expect(requests[0]?.value).toBe(1000);
    expect(find(samples, "protogate_request_duration_seconds_count")).toHaveLength(1);
    expect(valueOf(samples, "protogate_time_to_first_token_seconds_count", { model: "unknown" })).toBe(1000);
    expect(valueOf(samples, "protogate_tool_call_parse_failures_total", { model: "unknown", status: "invalid_json" })).toBe(1000);
  });

  it("bounds service, method, code and backend labels", async () => {
    const known = new Set(["llama"]);
    const metrics = createGatewayMetrics({ knownModels: () => new Set(["qwen"]), knownBackends: () => known });
    const base = { model: "qwen", durationMs: 1, code: "ok" } as const;
    metrics.recordRequest({ ...base, service: "evil.Service", method: "Chat", backend: "llama" });
    metrics.recordRequest({ ...base, service: inference, method: "Nope", backend: "llama" });
    metrics.recordRequest({ ...base, service: "grpc.health.v1.Health", method: "Check", backend: "elsewhere" });
    metrics.recordRequest({ ...base, service: "protogate.v1.ModelService", method: "ListModels", model: undefined, backend: undefined });
    metrics.recordRequest({ ...base, service: inference, method: "Chat", backend: "llama", code: 99 as Code });
    const samples = await scrape(metrics);
    const series = find(samples, "protogate_requests_total").map(({ labels }) => labels);
    expect(series).toEqual(
      expect.arrayContaining([
        { service: "unknown", method: "unknown", model: "qwen", backend: "llama", code: "ok" },
        { service: inference, method: "unknown", model: "qwen", backend: "llama", code: "ok" },
        { service: "grpc.health.v1.Health", method: "Check", model: "qwen", backend: "unknown", code: "ok" },
        { service: "protogate.v1.ModelService", method: "ListModels", model: "none", backend: "none", code: "ok" },
        { service: inference, method: "Chat", model: "qwen", backend: "llama", code: "unknown" },
      ]),
    );
    expect(series).toHaveLength(5);
  });

  it("tracks in-flight requests; ending twice is harmless", async () => {
    const metrics = setup();
    const endA = metrics.startRequest({ service: inference, method: "ChatStream" });
    metrics.startRequest({ service: inference, method: "ChatStream" });
    endA();
    endA();
    const samples = await scrape(metrics);
    expect(valueOf(samples, "protogate_in_flight_requests", { service: inference, method: "ChatStream" })).toBe(1);
  });

  it("observes time to first token and inter-token latency", async () => {
    const metrics = setup();
    metrics.observeFirstToken({ model: "qwen", backend: "llama", ttftMs: 95 });
    for (const gapMs of [20, 25, 30, 400]) metrics.observeInterTokenLatency({ model: "qwen", backend: "llama", gapMs });
    const samples = await scrape(metrics);
    const labels = { model: "qwen", backend: "llama" };
    expect(valueOf(samples, "protogate_time_to_first_token_seconds_bucket", { ...labels, le: "0.1" })).toBe(1);
    expect(valueOf(samples, "protogate_time_to_first_token_seconds_bucket", { ...labels, le: "0.05" })).toBe(0);
    expect(valueOf(samples, "protogate_inter_token_latency_seconds_bucket", { ...labels, le: "0.03" })).toBe(3);
    expect(valueOf(samples, "protogate_inter_token_latency_seconds_bucket", { ...labels, le: "0.25" })).toBe(3);
    expect(valueOf(samples, "protogate_inter_token_latency_seconds_bucket", { ...labels, le: "0.5" })).toBe(4);
    expect(valueOf(samples, "protogate_inter_token_latency_seconds_count", labels)).toBe(4);
  });

  it("records retries, fallbacks, circuit state, queue depth and backend readiness", async () => {
    const metrics = setup();
    metrics.recordRetry({ backend: "llama", reason: "connection-failed" });
    metrics.recordRetry({ backend: "llama", reason: "connection-failed" });
    metrics.recordRetry({ backend: "llama", reason: "free text" as "rate-limited" });
    metrics.recordFallback({ fromBackend: "llama", toBackend: "ollama" });
    metrics.setCircuitState("llama", "open");
    metrics.setCircuitState("ollama", "half-open");
    metrics.setCircuitState("vllm", "closed");
    metrics.setQueueDepth("llama", 7);
    metrics.setBackendStatus({ backend: "llama", up: true, ready: false });
    const samples = await scrape(metrics);
    expect(valueOf(samples, "protogate_retries_total", { backend: "llama", reason: "connection-failed" })).toBe(2);
    expect(valueOf(samples, "protogate_retries_total", { backend: "llama", reason: "unknown" })).toBe(1);
    expect(valueOf(samples, "protogate_fallbacks_total", { from_backend: "llama", to_backend: "ollama" })).toBe(1);
    expect(valueOf(samples, "protogate_circuit_state", { backend: "llama" })).toBe(2);
    expect(valueOf(samples, "protogate_circuit_state", { backend: "ollama" })).toBe(1);
    expect(valueOf(samples, "protogate_circuit_state", { backend: "vllm" })).toBe(0);
    expect(valueOf(samples, "protogate_queue_depth", { backend: "llama" })).toBe(7);
    expect(valueOf(samples, "protogate_backend_up", { backend: "llama" })).toBe(1);
    expect(valueOf(samples, "protogate_backend_ready", { backend: "llama" })).toBe(0);
  });

  it("replaces model readiness so removed models disappear", async () => {
    const metrics = setup(["qwen", "llama3", "phi"]);
    metrics.replaceModelReadiness([
      { model: "qwen", backend: "llama", ready: true },
      { model: "phi", backend: "ollama", ready: false },
    ]);
    metrics.replaceModelReadiness([{ model: "qwen", backend: "llama", ready: true }]);
    const samples = await scrape(metrics);
    expect(find(samples, "protogate_model_ready").map(({ labels, value }) => ({ ...labels, value }))).toEqual([
      { model: "qwen", backend: "llama", value: 1 },
    ]);
  });

  it("counts tool-call parse failures, sandbox outcomes, schema violations and sessions", async () => {
    const metrics = setup();
    metrics.recordToolCallParseFailure({ model: "qwen", status: ArgumentsStatus.NOT_AN_OBJECT });
    metrics.recordToolCallParseFailure({ model: "qwen", status: ArgumentsStatus.INVALID_JSON });
    metrics.recordToolCallParseFailure({ model: "qwen", status: ArgumentsStatus.INVALID_JSON });
    metrics.recordSandboxExecution("ok");
    metrics.recordSandboxExecution("wall-time");
    metrics.recordSandboxExecution("made-up outcome");
    metrics.recordSchemaViolation({ service: inference, method: "Chat" });
    metrics.recordSessionClosed("error_free");
    metrics.recordSessionClosed("with_errors", { evicted: true });
    metrics.setActiveSessions(42);
    const samples = await scrape(metrics);
    expect(valueOf(samples, "protogate_tool_call_parse_failures_total", { model: "qwen", status: "invalid_json" })).toBe(2);
    expect(valueOf(samples, "protogate_tool_call_parse_failures_total", { model: "qwen", status: "not_an_object" })).toBe(1);
    expect(valueOf(samples, "protogate_sandbox_executions_total", { outcome: "ok" })).toBe(1);
    expect(valueOf(samples, "protogate_sandbox_executions_total", { outcome: "wall_time" })).toBe(1);
    expect(valueOf(samples, "protogate_sandbox_executions_total", { outcome: "other" })).toBe(1);
    expect(valueOf(samples, "protogate_schema_violations_total", { service: inference, method: "Chat" })).toBe(1);
    expect(valueOf(samples, "protogate_sessions_total", { outcome: "error_free" })).toBe(1);
    expect(valueOf(samples, "protogate_sessions_total", { outcome: "with_errors" })).toBe(1);
    expect(valueOf(samples, "protogate_sessions_evicted_total")).toBe(1);
    expect(valueOf(samples, "protogate_sessions_active")).toBe(42);
  });

  it("counts sessions closed by a session tracker", async () => {
    const clock = createFakeClock();
    const metrics = setup();
    const sessions = createSessionTracker({ idleMs: 1000, now: clock.now });
    sessions.onSessionClosed((session) => metrics.recordSessionClosed(session.outcome, { evicted: session.reason === "evicted" }));
    sessions.record({ sessionId: "a", model: "qwen", ok: true, code: "ok" });
    sessions.record({ sessionId: "b", model: "qwen", ok: false, code: Code.Unavailable });
    sessions.record({ sessionId: "c", model: "qwen", ok: true, code: "ok" });
    clock.advance(1000);
    sessions.sweep();
    const samples = await scrape(metrics);
    expect(valueOf(samples, "protogate_sessions_total", { outcome: "error_free" })).toBe(2);
    expect(valueOf(samples, "protogate_sessions_total", { outcome: "with_errors" })).toBe(1);
  });

  it("uses its own registry unless given one, and reports the content type", async () => {
    const first = setup();
    const second = setup();
    first.recordRetry({ backend: "llama", reason: "bad-gateway" });
    expect(find(await scrape(second), "protogate_retries_total")).toHaveLength(0);
    expect(first.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");

    const registry = new Registry();
    const shared = createGatewayMetrics({ registry, knownModels: () => new Set() });
    expect(shared.registry).toBe(registry);
    shared.recordFallback({ fromBackend: "a", toBackend: "b" });
    expect(valueOf(parseExposition(await registry.metrics()), "protogate_fallbacks_total", { from_backend: "a", to_backend: "b" })).toBe(1);
  });

  it("exposes LLM-suited buckets", async () => {
    expect(durationBucketsSeconds[0]).toBe(0.001);
    expect(durationBucketsSeconds.at(-1)).toBe(600);
    expect(overheadBucketsSeconds[0]).toBe(0.0001);
    expect(overheadBucketsSeconds.at(-1)).toBe(1);
    expect(timeToFirstTokenBucketsSeconds.at(-1)).toBe(120);
    expect(interTokenBucketsSeconds.at(-1)).toBe(2);
    const metrics = setup();
    metrics.recordRequest({ service: inference, method: "Chat", model: "qwen", backend: "llama", code: "ok", durationMs: 1 });
    const les = find(await scrape(metrics), "protogate_request_duration_seconds_bucket").map(({ labels }) => labels.le);
    expect(les).toEqual([...durationBucketsSeconds.map(String), "+Inf"]);
  });

  it("has every metric documented in docs/operations.md's table, and no documented metric it lacks", async () => {
    const registered = [...(await setup().render()).matchAll(/^# TYPE (protogate_\w+) /gm)].map((match) => match[1]);
    const table = readFileSync(new URL("../../../docs/operations.md", import.meta.url), "utf8");
    const documented = [...table.matchAll(/^\| `(protogate_\w+)`/gm)].map((match) => match[1]);
    expect(registered.length).toBeGreaterThan(20);
    expect([...documented].sort()).toEqual([...registered].sort());
  });
});
