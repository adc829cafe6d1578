import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, ConnectError, createProtogateClient, type ProtogateClient, type ProtogateProtocol, Role } from "../../sdk/index.js";
import { collectUntilError, connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type FakeUpstreamBase } from "../helpers/fake-upstream/index.js";
import { type LlamaAndOllamaGateway, startLlamaAndOllamaGateway, startTestGateway } from "../helpers/start-test-gateway.js";

/** `oneContentChunk`: stream events up to the first content (llama.cpp sends a role-only chunk first). */
const backends = [
  { label: "llama.cpp", model: "qwen.gguf", oneContentChunk: 2 },
  { label: "Ollama", model: "llama3.2:1b", oneContentChunk: 1 },
] as const;
const protocols: readonly ProtogateProtocol[] = ["connect", "grpc"];

describe("cancellation and deadlines reach the upstream", () => {
  const fakes = new Map<string, FakeUpstreamBase>();
  const clients = new Map<ProtogateProtocol, ProtogateClient>();
  let setup: LlamaAndOllamaGateway;
  let gateway: RunningGateway;

  beforeAll(async () => {
    setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b" }] });
    gateway = setup.gateway;
    fakes.set("qwen.gguf", setup.llama);
    fakes.set("llama3.2:1b", setup.ollama);
    for (const protocol of protocols) clients.set(protocol, createProtogateClient({ baseUrl: gateway.url, protocol }));
  });

  afterAll(() => setup.close());

  function fakeFor(model: string): FakeUpstreamBase {
    const fake = fakes.get(model);
    if (fake === undefined) throw new Error(`no fake serves ${model}`);
    return fake;
  }

  function clientFor(protocol: ProtogateProtocol): ProtogateClient {
    const client = clients.get(protocol);
    if (client === undefined) throw new Error(`no client for ${protocol}`);
    return client;
  }

  /** In-flight counts drop when the server has closed the response; that has no event to await. */
  async function expectNothingInFlight(target: RunningGateway = gateway): Promise<void> {
    await vi.waitFor(() => expect(target.inFlight()).toBe(0), { timeout: 5000, interval: 10 });
  }

  // Regression: with AbortSignal.any([…, AbortSignal.timeout(ms)]) a garbage collection could
  // drop the timeout signal, and a call to a hung backend without a client deadline never ended.
  it("a backend timeout from the config is deadline_exceeded and aborts the upstream", async () => {
    const fake = await createOpenAiFake({ flavour: "vllm", models: ["Qwen/Qwen3-0.6B"] });
    const slow = await startTestGateway({ backends: [{ id: "vllm", kind: "openai", url: fake.url, timeoutMs: 300 }] });
    try {
      fake.enqueue({ kind: "hang" });
      const failure = await connectErrorOf(
        createProtogateClient({ baseUrl: slow.url, protocol: "grpc" }).inference.chat({
          model: "Qwen/Qwen3-0.6B",
          messages: [{ role: Role.USER, content: "hi" }],
        }),
      );
      expect([failure.code, failure.rawMessage]).toEqual([Code.DeadlineExceeded, 'backend "vllm" did not answer within its timeout']);
      await fake.waitForAbort();
      await expectNothingInFlight(slow);
    } finally {
      await slow.close();
      await fake.close();
    }
  });

  describe.each(backends)("$label backend", ({ model, oneContentChunk }) => {
    it.each(protocols)("a %s client that aborts ChatStream stops the upstream generation", async (protocol) => {
      const fake = fakeFor(model);
      const abortsBefore = fake.abortedRequests;
      fake.enqueue({ kind: "hang", afterChunks: oneContentChunk, content: "partial answer" });
      const controller = new AbortController();
      const seen: string[] = [];
      let failure: ConnectError | undefined;
      try {
        for await (const response of clientFor(protocol).inference.chatStream(
          { model, messages: [{ role: Role.USER, content: "Tell me a long story" }] },
          { signal: controller.signal },
        )) {
          seen.push(response.event.case ?? "none");
          if (response.event.case === "contentDelta") controller.abort();
        }
      } catch (error) {
        failure = ConnectError.from(error);
      }

      expect(seen).toEqual(["start", "contentDelta"]);
      expect(failure?.code).toBe(Code.Canceled);
      await fake.waitForAbort();
      expect(fake.abortedRequests).toBe(abortsBefore + 1);
      await expectNothingInFlight();
    });

    it.each(protocols)("a %s client deadline on ChatStream is deadline_exceeded and aborts the upstream", async (protocol) => {
      const fake = fakeFor(model);
      fake.enqueue({ kind: "hang", afterChunks: oneContentChunk });
      const { items, error } = await collectUntilError(
        clientFor(protocol).inference.chatStream({ model, messages: [{ role: Role.USER, content: "hi" }] }, { timeoutMs: 300 }),
      );

      expect(items.map((response) => response.event.case)).toEqual(["start", "contentDelta"]);
      expect(error.code).toBe(Code.DeadlineExceeded);
      await fake.waitForAbort();
      await expectNothingInFlight();
    });

    it.each(protocols)("a %s client deadline on unary Chat is deadline_exceeded and aborts the upstream", async (protocol) => {
      const fake = fakeFor(model);
      fake.enqueue({ kind: "hang" });
      const failure = await connectErrorOf(
        clientFor(protocol).inference.chat({ model, messages: [{ role: Role.USER, content: "hi" }] }, { timeoutMs: 300 }),
      );

      expect(failure.code).toBe(Code.DeadlineExceeded);
      await fake.waitForAbort();
      await expectNothingInFlight();
    });

    it("the gateway enforces a deadline from the timeout header itself", async () => {
      const fake = fakeFor(model);
      fake.enqueue({ kind: "hang" });
      // A raw client that sends the header but does not time out on its own.
      const response = await fetch(`${gateway.url}/protogate.v1.InferenceService/Chat`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "300" },
        body: JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] }),
        signal: AbortSignal.timeout(10_000),
      });

      expect(response.status).toBe(504);
      expect(await response.json()).toEqual({ code: "deadline_exceeded", message: "the operation timed out" });
      await fake.waitForAbort();
      await expectNothingInFlight();
    });
  });
});
