import { once } from "node:events";
import { connect as connectHttp2 } from "node:http2";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { defaultRoutePolicy, type ResolvedRoute, type RoutePolicy } from "../../server/config/resolved-config.js";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, createProtogateClient, FinishReason, Role, WarningCode } from "../../sdk/index.js";
import { collect, collectUntilError, connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { refusedUrl } from "../helpers/refused-url.js";
import { scrapeMetrics } from "../helpers/scrape-metrics.js";
import { startTestGateway, type TestBackend } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const request = { model, messages: [{ role: Role.USER, content: "Tell me a story" }] };
const loadingBody = '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}';
const inference = "protogate.v1.InferenceService";

/** A route for `qwen.gguf` with the default policy and these changes. */
function route(changes: Partial<RoutePolicy>): ResolvedRoute {
  return { models: [model], policy: { ...defaultRoutePolicy, ...changes, retry: { ...defaultRoutePolicy.retry, baseDelayMs: 5, maxDelayMs: 20, ...changes.retry } } };
}

/** Chat requests a fake received (probes and discovery left out). */
function chats(fake: OpenAiFake) {
  return fake.requests.filter((recorded) => recorded.path === "/v1/chat/completions");
}

function text(events: ReadonlyArray<{ event: { case: string | undefined; value?: unknown } }>): string {
  return events.map((response) => (response.event.case === "contentDelta" ? (response.event.value as { text: string }).text : "")).join("");
}

describe("reliability under injected faults", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function fake(): Promise<OpenAiFake> {
    const created = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    cleanups.push(() => created.close());
    return created;
  }

  async function gateway(backends: readonly TestBackend[], routes: readonly ResolvedRoute[] = []): Promise<RunningGateway> {
    const started = await startTestGateway({ backends, overrides: { routes } });
    cleanups.push(() => started.close());
    return started;
  }

  /** In-flight counts drop when the server has closed the response; that has no event to await. */
  async function expectNothingInFlight(target: RunningGateway): Promise<void> {
    await vi.waitFor(async () => {
      expect(target.inFlight()).toBe(0);
      const scrape = await scrapeMetrics(target.url);
      // The scrape itself is plain HTTP, not an RPC: every RPC gauge is back to 0.
      expect(scrape.find("protogate_in_flight_requests").every((sample) => sample.value === 0)).toBe(true);
    }, { timeout: 5000, interval: 20 });
  }

  it("falls back to a second backend when the first refuses connections, after retrying it", async () => {
    const down = await refusedUrl();
    const llama = await fake();
    const target = await gateway(
      [
        { id: "down", kind: "openai", url: down, models: [model] },
        { id: "llama", kind: "openai", url: llama.url },
      ],
      [route({ retry: { ...defaultRoutePolicy.retry, maxAttempts: 2 }, fallbacks: ["llama/qwen.gguf"] })],
    );
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    llama.enqueue({ kind: "reply", content: "served by the fallback" });

    const response = await client.inference.chat(request);

    expect([response.backend, response.message?.content]).toEqual(["llama", "served by the fallback"]);
    expect(response.attempts).toMatchObject({ count: 3, retries: 1, fallbackFrom: ["down/qwen.gguf"] });
    expect(response.warnings.map((warning) => warning.code)).toContain(WarningCode.FALLBACK_USED);
    const scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_retries_total", { backend: "down", reason: "connection-failed" })).toBe(1);
    expect(scrape.value("protogate_fallbacks_total", { from_backend: "down", to_backend: "llama" })).toBe(1);
    expect(scrape.value("protogate_requests_total", { service: inference, method: "Chat", model, backend: "llama", code: "ok" })).toBe(1);
    await expectNothingInFlight(target);
  });

  it("never retries once bytes reached the client: a reset mid-stream ends with unavailable", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    llama.enqueue({ kind: "drop", afterChunks: 3, content: "partial answer that breaks" });

    const { items, error } = await collectUntilError(client.inference.chatStream(request));

    expect(items.map((response) => response.event.case)).toEqual(["start", "contentDelta", "contentDelta"]);
    expect([error.code, error.rawMessage]).toEqual([Code.Unavailable, 'backend "llama" closed the connection before the answer was complete']);
    expect(chats(llama)).toHaveLength(1);
    const scrape = await scrapeMetrics(target.url);
    expect(scrape.find("protogate_retries_total")).toEqual([]);
    expect(scrape.value("protogate_requests_total", { service: inference, method: "ChatStream", model, backend: "llama", code: "unavailable" })).toBe(1);
    await expectNothingInFlight(target);
  });

  it("retries a stream reset before its first token without the client noticing", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({})]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "connect" });
    // llama.cpp's first chunk carries only the role: no byte of the answer was produced.
    llama.enqueue({ kind: "drop", afterChunks: 1 });
    llama.enqueue({ kind: "reply", content: "second try" });

    const events = await collect(client.inference.chatStream(request));

    expect(events.map((response) => response.event.case)).toEqual(["start", ...Array(3).fill("contentDelta"), "end"]);
    expect(text(events)).toBe("second try");
    const end = events.at(-1)?.event;
    expect(end?.case === "end" ? end.value.attempts : undefined).toMatchObject({ count: 2, retries: 1, fallbackFrom: [] });
    expect(chats(llama)).toHaveLength(2);
    const scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_retries_total", { backend: "llama", reason: "connection-failed" })).toBe(1);
  });

  it("retries a 503 while the model loads, then answers once it is ready", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({})]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    llama.enqueue({ kind: "http-error", status: 503, body: loadingBody });
    llama.enqueue({ kind: "http-error", status: 503, body: loadingBody });
    llama.enqueue({ kind: "reply", content: "loaded now" });

    const response = await client.inference.chat(request);

    expect(response.message?.content).toBe("loaded now");
    expect(response.attempts).toMatchObject({ count: 3, retries: 2 });
    const scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_retries_total", { backend: "llama", reason: "model-loading" })).toBe(2);
  });

  it("honours Retry-After on a 429 before retrying", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({})]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "connect" });
    llama.enqueue({ kind: "http-error", status: 429, headers: { "Retry-After": "1" } });
    llama.enqueue({ kind: "reply", content: "after the pause" });

    const response = await client.inference.chat(request);

    expect(response.message?.content).toBe("after the pause");
    const [first, second] = chats(llama);
    expect(second).toBeDefined();
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(1000);
    expect((await scrapeMetrics(target.url)).value("protogate_retries_total", { backend: "llama", reason: "rate-limited" })).toBe(1);
  });

  it("gives up at once when Retry-After is longer than the route allows", async () => {
    const llama = await fake();
    const target = await gateway(
      [{ id: "llama", kind: "openai", url: llama.url }],
      [route({ retry: { ...defaultRoutePolicy.retry, maxRetryAfterMs: 500 } })],
    );
    llama.enqueue({ kind: "http-error", status: 429, headers: { "Retry-After": "30" } });

    const failure = await connectErrorOf(createProtogateClient({ baseUrl: target.url }).inference.chat(request));

    expect(failure.code).toBe(Code.ResourceExhausted);
    expect(chats(llama)).toHaveLength(1);
  });

  it("does not retry a request the backend rejected", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({})]);
    llama.enqueue({ kind: "http-error", status: 400 });

    const failure = await connectErrorOf(createProtogateClient({ baseUrl: target.url }).inference.chat(request));

    expect(failure.code).toBe(Code.InvalidArgument);
    expect(chats(llama)).toHaveLength(1);
  });

  it("ends a stream whose first token is too slow with deadline_exceeded and aborts the upstream", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({ ttftTimeoutMs: 200 })]);
    llama.enqueue({ kind: "hang", afterChunks: 1 }); // headers and the role chunk, then nothing

    const { items, error } = await collectUntilError(createProtogateClient({ baseUrl: target.url, protocol: "grpc" }).inference.chatStream(request));

    expect(items).toEqual([]);
    expect([error.code, error.rawMessage]).toEqual([
      Code.DeadlineExceeded,
      'backend "llama" produced no token within the 200 ms time-to-first-token limit',
    ]);
    await llama.waitForAbort();
    expect(chats(llama)).toHaveLength(1);
    await expectNothingInFlight(target);
  });

  it("falls back when the first backend's first token is too slow", async () => {
    const slow = await fake();
    const quick = await fake();
    const target = await gateway(
      [
        { id: "slow", kind: "openai", url: slow.url },
        { id: "quick", kind: "openai", url: quick.url },
      ],
      [route({ ttftTimeoutMs: 200, fallbacks: ["quick/qwen.gguf"] })],
    );
    slow.enqueue({ kind: "hang" });
    quick.enqueue({ kind: "reply", content: "fast" });

    const events = await collect(createProtogateClient({ baseUrl: target.url, protocol: "grpc" }).inference.chatStream(request));

    const start = events[0]?.event;
    expect(start?.case === "start" ? start.value.backend : undefined).toBe("quick");
    expect(text(events)).toBe("fast");
    await slow.waitForAbort();
  });

  it("ends a stalled stream with deadline_exceeded after the idle limit, without a retry", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({ streamIdleTimeoutMs: 200 })]);
    llama.enqueue({ kind: "hang", afterChunks: 3, content: "it stalls here" });

    const { items, error } = await collectUntilError(createProtogateClient({ baseUrl: target.url, protocol: "grpc" }).inference.chatStream(request));

    expect(items.map((response) => response.event.case)).toEqual(["start", "contentDelta", "contentDelta"]);
    expect([error.code, error.rawMessage]).toEqual([Code.DeadlineExceeded, 'backend "llama" stalled: no event for 200 ms']);
    await llama.waitForAbort();
    expect(chats(llama)).toHaveLength(1);
    await expectNothingInFlight(target);
  });

  it("stops a client that reads nothing after the idle limit, as the client's doing, not a backend stall", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({ streamIdleTimeoutMs: 200 })]);
    // A backend still generating (it never finishes), and more text than the gateway buffers for a client that does
    // not read (about 64 KiB), so that the gateway stops reading the backend.
    llama.enqueue({ kind: "hang", content: "once upon a time ".repeat(6000), afterChunks: 25_000 });

    // A client that reads nothing: with a receive window of 0 the gateway's writes wait, and so does its reading
    // from the backend, which is not stalled at all.
    const session = connectHttp2(target.url, { settings: { initialWindowSize: 0 } });
    cleanups.push(async () => void session.destroy());
    const body = Buffer.from(JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "Tell me a story" }] }));
    const stream = session.request({ ":method": "POST", ":path": `/${inference}/ChatStream`, "content-type": "application/connect+json" });
    stream.end(encodeEnvelope(0, body));
    await once(stream, "response");
    // The backend's generation is stopped for the reader that does not read...
    await llama.waitForAbort();

    // ...and once the client reads, its stream ends with the client's reason, not "backend stalled".
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    session.settings({ initialWindowSize: 65_535 });
    await once(stream, "end");
    // Connect streaming frames: a flags byte, a 4-byte length, then JSON; the last (flags 2) ends the stream.
    const frames: Array<Record<string, unknown>> = [];
    const received = Buffer.concat(chunks);
    for (let offset = 0; offset < received.length; offset += 5 + received.readUInt32BE(offset + 1)) {
      frames.push(JSON.parse(received.subarray(offset + 5, offset + 5 + received.readUInt32BE(offset + 1)).toString("utf8")) as Record<string, unknown>);
    }
    expect(frames.at(-1)).toEqual({
      error: { code: "deadline_exceeded", message: "the client read nothing for 200 ms; the backend call was stopped" },
    });
    expect(chats(llama)).toHaveLength(1);
    await expectNothingInFlight(target);
  });

  it("cuts a long client deadline to the route's and aborts the upstream", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({ maxDeadlineMs: 300 })]);
    llama.enqueue({ kind: "hang" });
    const started = performance.now();

    const failure = await connectErrorOf(createProtogateClient({ baseUrl: target.url, protocol: "grpc" }).inference.chat(request, { timeoutMs: 60_000 }));

    expect([failure.code, failure.rawMessage]).toEqual([Code.DeadlineExceeded, "the request took longer than the route's deadline of 300 ms"]);
    expect(performance.now() - started).toBeLessThan(5000);
    await llama.waitForAbort();
    await expectNothingInFlight(target);
  });

  it("ends a request still waiting for a backend slot at the route's deadline, and frees its place in the queue", async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp", models: [model, "other.gguf"] });
    cleanups.push(() => llama.close());
    // Only qwen.gguf has the short deadline; other.gguf holds the backend's only slot meanwhile.
    const target = await gateway(
      [{ id: "llama", kind: "openai", url: llama.url, policy: { maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 30_000 } }],
      [route({ maxDeadlineMs: 300 })],
    );
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    llama.enqueue({ kind: "hang", afterChunks: 2 });
    const controller = new AbortController();
    const holder = client.inference.chatStream({ ...request, model: "other.gguf" }, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await holder.next()).value?.event.case).toBe("start");
    const started = performance.now();

    const failure = await connectErrorOf(client.inference.chat(request, { timeoutMs: 60_000 }));

    expect([failure.code, failure.rawMessage]).toEqual([Code.DeadlineExceeded, "the request took longer than the route's deadline of 300 ms"]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(chats(llama)).toHaveLength(1);
    expect((await scrapeMetrics(target.url)).value("protogate_queue_depth", { backend: "llama" })).toBe(0);
    controller.abort();
    await expect(holder.next()).rejects.toMatchObject({ code: Code.Canceled });
    await expectNothingInFlight(target);
  });

  it("answers resource_exhausted with a retry hint when the backend's queue is full", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url, policy: { maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 10_000 } }]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    llama.enqueue({ kind: "hang", afterChunks: 2 });
    const controller = new AbortController();

    // One stream holds the only slot, a second waits in the queue, a third finds it full.
    const holder = client.inference.chatStream(request, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await holder.next()).value?.event.case).toBe("start");
    const waiting = client.inference.chat(request, { signal: controller.signal });
    await vi.waitFor(async () => expect((await scrapeMetrics(target.url)).value("protogate_queue_depth", { backend: "llama" })).toBe(1), {
      timeout: 5000,
      interval: 20,
    });
    const failure = await connectErrorOf(client.inference.chat(request));

    expect(failure.code).toBe(Code.ResourceExhausted);
    expect(failure.rawMessage).toMatch(/^backend "llama" is at capacity \(1 in flight, 1 queued, queue full\); retry after about 10000 ms$/);
    expect(failure.metadata.get("retry-after-ms")).toBe("10000");
    expect(failure.metadata.get("retry-after")).toBe("10");
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: Code.Canceled });
    await expect(holder.next()).rejects.toMatchObject({ code: Code.Canceled });
    // The server sees the cancellations a moment after the client does.
    await vi.waitFor(async () => expect((await scrapeMetrics(target.url)).value("protogate_queue_depth", { backend: "llama" })).toBe(0), {
      timeout: 5000,
      interval: 20,
    });
    const scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_requests_total", { service: inference, method: "Chat", model, backend: "llama", code: "resource_exhausted" })).toBe(1);
    await expectNothingInFlight(target);
  });

  it("frees the backend slot when a client leaves a stream early", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url, policy: { maxConcurrent: 1, maxQueue: 0 } }]);
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    for (let round = 0; round < 3; round++) {
      llama.enqueue({ kind: "hang", afterChunks: 2 });
      const controller = new AbortController();
      const stream = client.inference.chatStream(request, { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await stream.next()).value?.event.case).toBe("start");
      controller.abort();
      await llama.waitForAbort();
      await expectNothingInFlight(target);
    }
    llama.enqueue({ kind: "reply", content: "the slot is free" });
    expect((await client.inference.chat(request)).message?.content).toBe("the slot is free");
  });

  it("opens the circuit after failures, skips the backend for the cooldown, then probes it and closes", async () => {
    const flaky = await fake();
    const steady = await fake();
    const cooldownMs = 400;
    const target = await gateway(
      [
        { id: "flaky", kind: "openai", url: flaky.url, policy: { breaker: { failureRatio: 0.5, minimumRequests: 2, windowMs: 60_000, cooldownMs } } },
        { id: "steady", kind: "openai", url: steady.url },
      ],
      [route({ retry: { ...defaultRoutePolicy.retry, maxAttempts: 1 }, fallbacks: ["steady/qwen.gguf"] })],
    );
    const client = createProtogateClient({ baseUrl: target.url, protocol: "grpc" });
    flaky.enqueue({ kind: "http-error", status: 502 });
    flaky.enqueue({ kind: "http-error", status: 502 });

    // Two failures (2 of 2 calls) open the circuit; each request is still answered by the fallback.
    for (let index = 0; index < 2; index++) expect((await client.inference.chat(request)).backend).toBe("steady");
    let scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_circuit_state", { backend: "flaky" })).toBe(2);

    // Open: flaky is not called at all.
    const skipped = await client.inference.chat(request);
    expect([skipped.backend, skipped.attempts?.count, skipped.attempts?.fallbackFrom]).toEqual(["steady", 1, ["flaky/qwen.gguf"]]);
    expect(chats(flaky)).toHaveLength(2);

    // Let the cooldown pass (a policy timer, not synchronisation): the next request probes flaky, which answers.
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 50));
    flaky.enqueue({ kind: "reply", content: "recovered" });
    const probe = await client.inference.chat(request);
    expect([probe.backend, probe.message?.content]).toEqual(["flaky", "recovered"]);
    scrape = await scrapeMetrics(target.url);
    expect(scrape.value("protogate_circuit_state", { backend: "flaky" })).toBe(0);
    expect(scrape.value("protogate_fallbacks_total", { from_backend: "flaky", to_backend: "steady" })).toBe(3);
    expect(chats(flaky)).toHaveLength(3);
  });

  it("without a fallback, an open circuit fails fast with unavailable and a retry hint", async () => {
    const flaky = await fake();
    const target = await gateway(
      [{ id: "flaky", kind: "openai", url: flaky.url, policy: { breaker: { failureRatio: 1, minimumRequests: 1, windowMs: 60_000, cooldownMs: 30_000 } } }],
      [route({ retry: { ...defaultRoutePolicy.retry, maxAttempts: 1 } })],
    );
    const client = createProtogateClient({ baseUrl: target.url, protocol: "connect" });
    flaky.enqueue({ kind: "http-error", status: 503 });
    expect((await connectErrorOf(client.inference.chat(request))).code).toBe(Code.Unavailable);

    const failure = await connectErrorOf(client.inference.chat(request));

    expect([failure.code, failure.rawMessage]).toEqual([
      Code.Unavailable,
      'backend "flaky" is skipped for now: its circuit breaker opened after repeated failures',
    ]);
    expect(failure.metadata.get("retry-after-ms")).toBe("30000");
    expect(chats(flaky)).toHaveLength(1);
  });

  it("a streamed answer that was retried still ends normally with the end event", async () => {
    const llama = await fake();
    const target = await gateway([{ id: "llama", kind: "openai", url: llama.url }], [route({})]);
    llama.enqueue({ kind: "http-error", status: 502 });
    llama.enqueue({ kind: "reply", content: "ok" });

    const events = await collect(createProtogateClient({ baseUrl: target.url, protocol: "grpc-web" }).inference.chatStream(request));

    const end = events.at(-1)?.event;
    expect(end?.case === "end" ? [end.value.finishReason, end.value.attempts?.retries] : end?.case).toEqual([FinishReason.STOP, 1]);
  });

  it("fails an answer over limits.maxBackendResponseBytes with internal, unary and streamed, without retrying it, and keeps serving", async () => {
    const llama = await fake();
    const started = await startTestGateway({ backends: [{ id: "llama", kind: "openai", url: llama.url }], overrides: { maxBackendResponseBytes: 1024 * 1024 } });
    cleanups.push(() => started.close());
    const client = createProtogateClient({ baseUrl: started.url });
    const huge = "a".repeat(2 * 1024 * 1024);
    llama.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/json" }, body: `{"choices":[{"message":{"content":"${huge}"}}]}` });
    llama.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: `data: {"choices":[{"delta":{"content":"${huge}"}}]}\n\n` });
    const unary = await connectErrorOf(client.inference.chat(request));
    const streamed = await connectErrorOf(collect(client.inference.chatStream(request)));
    for (const error of [unary, streamed]) {
      expect([error.code, error.rawMessage]).toEqual([Code.Internal, 'backend "llama" sent a malformed response']);
    }
    expect(chats(llama)).toHaveLength(2);
    const after = await client.inference.chat(request);
    expect(after.message?.content).toBe("Hello from fake");
  });
});
