import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { defaultObservability } from "../../server/config/resolved-config.js";
import type { RunningGateway } from "../../server/gateway.js";
import { parseTraceparent } from "../../server/observability/index.js";
import { Code, CircuitState, createProtogateClient, type ProtogateClient, Role } from "../../sdk/index.js";
import { collect, connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { runProcess } from "../helpers/run-process.js";
import { type Scrape, scrapeMetrics } from "../helpers/scrape-metrics.js";
import { abandonHttp1Request, postGrpcRaw, resetHttp2Request, sendRaw } from "../helpers/raw-http.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const inference = "protogate.v1.InferenceService";
const user = (content: string) => [{ role: Role.USER, content }];

/** `after − before` for one exactly-labelled sample (0 when absent). */
function delta(before: Scrape, after: Scrape, name: string, labels: Readonly<Record<string, string>>): number {
  return after.value(name, labels) - before.value(name, labels);
}

describe("/metrics, sessions and StatsService", () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let client: ProtogateClient;
  const sessionIdleMs = 300;

  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    gateway = await startTestGateway({
      backends: [{ id: "llama", kind: "openai", url: llama.url }],
      overrides: { observability: { ...defaultObservability, requestLog: false, sessionIdleMs, adminPort: 0 } },
    });
    client = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
  });

  afterAll(async () => {
    await gateway.close();
    await llama.close();
  });

  it("serves the Prometheus text format on the gateway port and the admin port", async () => {
    const scrape = await scrapeMetrics(gateway.url);
    expect(scrape.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(scrape.value("protogate_backend_up", { backend: "llama" })).toBe(1);
    expect(scrape.value("protogate_backend_ready", { backend: "llama" })).toBe(1);
    expect(scrape.value("protogate_model_ready", { model, backend: "llama" })).toBe(1);
    expect(scrape.value("protogate_circuit_state", { backend: "llama" })).toBe(0);
    expect(scrape.value("protogate_queue_depth", { backend: "llama" })).toBe(0);
    expect(gateway.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const admin = await scrapeMetrics(gateway.adminUrl ?? "");
    expect(admin.value("protogate_backend_up", { backend: "llama" })).toBe(1);
    const ready = await fetch(`${gateway.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    // The admin port serves no RPCs.
    expect((await fetch(`${gateway.adminUrl}/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%7D`)).status).toBe(404);
  });

  it("moves exactly as it should for a unary chat, a stream, an unknown model and a bad request", async () => {
    const before = await scrapeMetrics(gateway.url);
    llama.enqueue({ kind: "reply", content: "one", usage: { prompt: 12, completion: 3 } });
    await client.inference.chat({ model, messages: user("a") });
    llama.enqueue({ kind: "reply", content: "two streamed", usage: { prompt: 7, completion: 4 } });
    await collect(client.inference.chatStream({ model, messages: user("b") }));
    expect((await connectErrorOf(client.inference.chat({ model: "attacker-chosen-name", messages: user("c") }))).code).toBe(Code.NotFound);
    expect((await connectErrorOf(client.inference.chat({ model, messages: [] }))).code).toBe(Code.InvalidArgument);
    const after = await scrapeMetrics(gateway.url);

    const rpc = (method: string, labels: Record<string, string>) => ({ service: inference, method, ...labels });
    expect(delta(before, after, "protogate_requests_total", rpc("Chat", { model, backend: "llama", code: "ok" }))).toBe(1);
    expect(delta(before, after, "protogate_requests_total", rpc("ChatStream", { model, backend: "llama", code: "ok" }))).toBe(1);
    // An unknown name from a client never becomes a label value.
    expect(delta(before, after, "protogate_requests_total", rpc("Chat", { model: "unknown", backend: "none", code: "not_found" }))).toBe(1);
    expect(after.find("protogate_requests_total", { model: "attacker-chosen-name" })).toEqual([]);
    // A request that fails validation still has its (known) model as a label.
    expect(delta(before, after, "protogate_requests_total", rpc("Chat", { model, backend: "none", code: "invalid_argument" }))).toBe(1);
    expect(delta(before, after, "protogate_request_violations_total", { service: inference, method: "Chat" })).toBe(1);
    expect(delta(before, after, "protogate_tokens_total", { model, backend: "llama", direction: "in" })).toBe(19);
    expect(delta(before, after, "protogate_tokens_total", { model, backend: "llama", direction: "out" })).toBe(7);
    expect(delta(before, after, "protogate_time_to_first_token_seconds_count", { model, backend: "llama" })).toBe(1);
    // "two streamed" in 4-character fragments: 3 content events, so 2 gaps.
    expect(delta(before, after, "protogate_inter_token_latency_seconds_count", { model, backend: "llama" })).toBe(2);
    expect(delta(before, after, "protogate_upstream_duration_seconds_count", { model, backend: "llama" })).toBe(2);
    expect(delta(before, after, "protogate_request_duration_seconds_count", { ...rpc("Chat", { model, backend: "llama" }) })).toBe(1);
    expect(delta(before, after, "protogate_gateway_overhead_seconds_count", { service: inference, method: "Chat" })).toBe(3);
    expect(after.find("protogate_in_flight_requests").every((sample) => sample.value === 0)).toBe(true);
    expect(after.find("protogate_retries_total")).toEqual([]);
  });

  it("counts requests connect refuses before the interceptors, over every protocol, once each", async () => {
    const before = await scrapeMetrics(gateway.url);
    const unknownField = JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }], modle: 1 });
    const chatUrl = `${gateway.url}/${inference}/Chat`;
    const getModelUrl = `${gateway.url}/protogate.v1.ModelService/GetModel?encoding=json`;
    const statuses = [
      // Connect unary over HTTP/1.1 (the fast path): an unknown field, then a malformed timeout header.
      (await sendRaw(gateway.url, { path: `/${inference}/Chat`, headers: { "content-type": "application/json" }, body: unknownField })).status,
      (await sendRaw(gateway.url, { path: `/${inference}/Chat`, headers: { "content-type": "application/json", "connect-timeout-ms": "soon" }, body: unknownField })).status,
      // Connect unary through connect-node's adapter (a gzip body), and Connect GET: unknown fields, and text that is not UTF-8.
      (await sendRaw(gateway.url, { path: `/${inference}/Chat`, headers: { "content-type": "application/json", "content-encoding": "gzip" }, body: gzipSync(unknownField) })).status,
      (await fetch(`${getModelUrl}&message=${encodeURIComponent('{"mdl":"x"}')}`)).status,
      (await fetch(`${getModelUrl}&message=%7B%22model%22%3A%22%FF%22%7D`)).status,
      // gRPC-Web with the JSON codec, and gRPC with bytes that are not protobuf (200 and a status in the trailers).
      (await fetch(chatUrl, { method: "POST", headers: { "content-type": "application/grpc-web+json" }, body: encodeEnvelope(0, Buffer.from(unknownField)) })).status,
      (await postGrpcRaw(gateway.url, `/${inference}/Chat`, Buffer.from(encodeEnvelope(0, Buffer.from([0xff, 0xff, 0xff, 0xff]))))).httpStatus,
      // Not a request of any protocol: an unknown content type is 415 and no RPC.
      (await fetch(chatUrl, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" })).status,
    ];
    expect(statuses).toEqual([400, 400, 400, 400, 400, 200, 200, 415]);
    // A rule violation reaches the interceptors: counted there, and only there.
    expect((await connectErrorOf(client.inference.chat({ model, messages: [] }))).code).toBe(Code.InvalidArgument);

    await vi.waitFor(async () => {
      const after = await scrapeMetrics(gateway.url);
      const refused = (method: string, code: string) =>
        delta(before, after, "protogate_requests_total", { service: method === "GetModel" ? "protogate.v1.ModelService" : inference, method, model: "none", backend: "none", code });
      expect({
        chatInvalid: refused("Chat", "invalid_argument"),
        chatInternal: refused("Chat", "internal"),
        getModelInvalid: refused("GetModel", "invalid_argument"),
        violations: delta(before, after, "protogate_request_violations_total", { service: inference, method: "Chat" }),
        chatValidationFailure: delta(before, after, "protogate_requests_total", { service: inference, method: "Chat", model, backend: "none", code: "invalid_argument" }),
      }).toEqual({ chatInvalid: 5, chatInternal: 0, getModelInvalid: 2, violations: 1, chatValidationFailure: 1 });
    });
  });

  it("counts a client that leaves in the middle of its request as canceled, never as a failure, over every path", async () => {
    const before = await scrapeMetrics(gateway.url);
    const path = `/${inference}/Chat`;
    const json = Buffer.from('{"model":"qwen.gguf","messa');
    // HTTP/1.1 on the fast path, then through connect-node's adapter (a gzip body); HTTP/2 with Connect JSON and with gRPC.
    await abandonHttp1Request(gateway.url, { path, headers: { "content-type": "application/json" }, partialBody: json });
    await abandonHttp1Request(gateway.url, { path, headers: { "content-type": "application/json", "content-encoding": "gzip" }, partialBody: gzipSync(json).subarray(0, 12) });
    await resetHttp2Request(gateway.url, { path, headers: { "content-type": "application/json" }, partialBody: json });
    await resetHttp2Request(gateway.url, { path, headers: { "content-type": "application/grpc" }, partialBody: Buffer.from([0, 0, 0, 0, 40, 10, 3]) });

    const refused = (after: Scrape, code: string) =>
      delta(before, after, "protogate_requests_total", { service: inference, method: "Chat", model: "none", backend: "none", code });
    await vi.waitFor(async () => {
      expect(refused(await scrapeMetrics(gateway.url), "canceled")).toBe(4);
    });
    const after = await scrapeMetrics(gateway.url);
    // What connect makes of a cut-off request — internal, aborted, invalid_argument — counts nowhere.
    expect({ internal: refused(after, "internal"), aborted: refused(after, "aborted"), invalid: refused(after, "invalid_argument") }).toEqual({
      internal: 0,
      aborted: 0,
      invalid: 0,
    });
    expect(delta(before, after, "protogate_request_violations_total", { service: inference, method: "Chat" })).toBe(0);
    // And the gateway serves the next client as usual.
    expect((await client.inference.chat({ model, messages: user("still there?") })).message?.content).toBeTruthy();
  });

  it("counts a stream in flight while it runs and back to zero after the client cancels", async () => {
    llama.enqueue({ kind: "hang", afterChunks: 2 });
    const controller = new AbortController();
    const stream = client.inference.chatStream({ model, messages: user("long") }, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.event.case).toBe("start");
    const during = await scrapeMetrics(gateway.url);
    expect(during.value("protogate_in_flight_requests", { service: inference, method: "ChatStream" })).toBe(1);

    controller.abort();
    await llama.waitForAbort();
    await vi.waitFor(async () => {
      const after = await scrapeMetrics(gateway.url);
      expect(after.value("protogate_in_flight_requests", { service: inference, method: "ChatStream" })).toBe(0);
      expect(after.value("protogate_requests_total", { service: inference, method: "ChatStream", model, backend: "llama", code: "canceled" })).toBe(1);
    }, { timeout: 5000, interval: 20 });
  });

  it("counts tool calls whose arguments are not a JSON object", async () => {
    const before = await scrapeMetrics(gateway.url);
    llama.enqueue({ kind: "reply", toolCalls: [{ id: "c1", name: "f", argumentsText: '{"ok":1}' }, { id: "c2", name: "g", argumentsText: "{broken" }] });
    await client.inference.chat({ model, messages: user("tools") });
    const after = await scrapeMetrics(gateway.url);
    expect(delta(before, after, "protogate_tool_call_parse_failures_total", { model, status: "invalid_json" })).toBe(1);
    expect(after.find("protogate_tool_call_parse_failures_total", { status: "valid_json_object" })).toEqual([]);
  });

  it("tracks sessions from the header and the request field, and their error-free ratio", async () => {
    const headerClient = createProtogateClient({ baseUrl: gateway.url, protocol: "connect", sessionId: "session-good" });
    const before = await scrapeMetrics(gateway.url);
    llama.enqueue({ kind: "reply", content: "fine" });
    await headerClient.inference.chat({ model, messages: user("1") });
    await headerClient.models.listModels({});
    // The field wins over the header: this failure belongs to session-bad.
    await connectErrorOf(headerClient.inference.chat({ model: "no-such-model", messages: user("2"), sessionId: "session-bad" }));
    llama.enqueue({ kind: "reply", content: "fine" });
    await client.inference.chat({ model, messages: user("3"), sessionId: "session-bad" });

    const stats = await client.stats.getStats({});
    expect(stats.sessions?.active).toBe(2n);
    const overall1m = stats.overall?.windows[0];
    expect(overall1m?.errorFreeSessionRatio).toBe(0.5);
    const during = await scrapeMetrics(gateway.url);
    expect(during.value("protogate_error_free_session_ratio", { window: "1m" })).toBe(0.5);
    expect(during.value("protogate_sessions_active")).toBe(2);

    // A malformed header is rejected like a malformed field.
    const badHeader = createProtogateClient({ baseUrl: gateway.url, sessionId: "spaces are not allowed" });
    expect((await connectErrorOf(badHeader.models.listModels({}))).code).toBe(Code.InvalidArgument);

    // Sessions close after sessionIdleMs without a request; the counters move on the next scrape.
    await vi.waitFor(async () => {
      const after = await scrapeMetrics(gateway.url);
      expect(delta(before, after, "protogate_sessions_total", { outcome: "error_free" })).toBe(1);
      expect(delta(before, after, "protogate_sessions_total", { outcome: "with_errors" })).toBe(1);
      expect(after.value("protogate_sessions_active")).toBe(0);
    }, { timeout: 5000, interval: 50 });
  });

  it("summarises traffic per model over 1, 5 and 15 minutes", async () => {
    llama.enqueue({ kind: "reply", content: "x" });
    await client.inference.chat({ model, messages: user("stats") });
    const stats = await client.stats.getStats({ model });

    expect(stats.models.map((entry) => entry.model)).toEqual([model]);
    const entry = stats.models[0];
    expect(entry?.backends).toEqual(["llama"]);
    expect(entry?.windows.map((window) => window.windowSeconds)).toEqual([60, 300, 900]);
    const minute = entry?.windows[0];
    expect(minute?.requests).toBeGreaterThanOrEqual(5n);
    expect(minute?.latencyP50Ms).toBeGreaterThan(0);
    expect(minute?.ttftP50Ms).toBeGreaterThan(0);
    expect(minute?.errorsByCode).toMatchObject({ canceled: 1n });
    expect(stats.backends).toEqual([
      expect.objectContaining({ id: "llama", up: true, ready: true, circuit: CircuitState.CLOSED, inFlight: 0, queued: 0 }),
    ]);
    // Unknown names are summarised, never listed by name; requests refused before they named a model are "none".
    expect(stats.overall?.model).toBe("*");
    const all = await client.stats.getStats({});
    expect(all.models.map((item) => item.model).sort()).toEqual(["none", "qwen.gguf", "unknown"]);
  });

  it("is a Connect GET too", async () => {
    const response = await fetch(`${gateway.url}/protogate.v1.StatsService/GetStats?encoding=json&message=%7B%7D`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ overall: { model: "*" } });
  });

  it("passes W3C trace context to the backend as a child span of the client's", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const index = llama.requests.length;
    llama.enqueue({ kind: "reply", content: "traced" });
    await client.inference.chat(
      { model, messages: user("trace") },
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: "vendor=abc" } },
    );
    const chat = llama.requests.slice(index).find((recorded) => recorded.path === "/v1/chat/completions");
    const upstream = parseTraceparent(String(chat?.headers["traceparent"]));
    expect(upstream?.traceId).toBe(traceId);
    expect(upstream?.spanId).not.toBe("00f067aa0ba902b7");
    expect(upstream?.flags).toBe(1);
    expect(chat?.headers["tracestate"]).toBe("vendor=abc");
  });

  it("starts a new trace for the backend when the client sent none", async () => {
    const index = llama.requests.length;
    llama.enqueue({ kind: "reply", content: "untraced" });
    await client.inference.chat({ model, messages: user("no trace") });
    const chat = llama.requests.slice(index).find((recorded) => recorded.path === "/v1/chat/completions");
    expect(parseTraceparent(String(chat?.headers["traceparent"]))).toMatchObject({ flags: 0 });
    expect(chat?.headers["tracestate"]).toBeUndefined();
  });

  it("`protogate stats --once` prints the summary through the SDK", { timeout: 60_000 }, async () => {
    const result = await runProcess(process.execPath, ["bin/protogate.js", "stats", "--once", "--url", gateway.url], { timeoutMs: 30_000 });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^protogate stats — up \d+s; sessions: \d+ active, \d+ closed error-free, \d+ closed with errors$/);
    expect(lines).toContainEqual(expect.stringMatching(/^BACKEND\s+UP\s+READY\s+CIRCUIT\s+IN-FLIGHT\s+QUEUED\s+DETAIL$/));
    expect(lines).toContainEqual(expect.stringMatching(/^llama\s+yes\s+yes\s+closed\s+0\s+0\s+llama\.cpp ready$/));
    expect(lines).toContainEqual(expect.stringMatching(/^qwen\.gguf\s+1m\s+\d+\s+[\d.]+\s/));
  });
});
