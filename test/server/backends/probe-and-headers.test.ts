import { afterEach, describe, expect, it } from "vitest";
import type { Backend } from "../../../server/backends/backend.js";
import { createOllamaBackend } from "../../../server/backends/ollama/backend.js";
import { createOpenAiBackend } from "../../../server/backends/openai/backend.js";
import { collect } from "../../helpers/async-outcomes.js";
import { chatRequest } from "../../helpers/chat-request.js";
import { createOllamaFake, createOpenAiFake, type FakeUpstreamBase } from "../../helpers/fake-upstream/index.js";
import { refusedUrl } from "../../helpers/refused-url.js";

const signal = () => AbortSignal.timeout(5000);

describe("backend readiness probes and per-call headers", () => {
  const fakes: FakeUpstreamBase[] = [];
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  it("llama.cpp: /health 503 while loading is `loading`, then `ready`", async () => {
    const fake = await createOpenAiFake({ flavour: "llamacpp" });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: "llama", baseUrl: fake.url });
    await backend.discover(signal()); // learns that it is llama.cpp
    fake.setLoading(true);
    expect(await backend.probe(signal())).toEqual({ kind: "loading", detail: "the server is loading the model" });
    fake.setLoading(false);
    expect(await backend.probe(signal())).toEqual({ kind: "ready", detail: "llama.cpp /health ok" });
    expect(fake.requests.filter((request) => request.path === "/health").length).toBeGreaterThanOrEqual(2);
  });

  it("vLLM: /health 503 is `not-ready` (its engine is dead)", async () => {
    const fake = await createOpenAiFake({ flavour: "vllm" });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: "vllm", baseUrl: fake.url });
    await backend.discover(signal());
    fake.setLoading(true);
    expect(await backend.probe(signal())).toEqual({ kind: "not-ready", detail: "vLLM health check failed (HTTP 503)" });
  });

  it("a server not identified yet is probed with /v1/models", async () => {
    const fake = await createOpenAiFake({ flavour: "vllm", models: ["a", "b"] });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: "generic", baseUrl: fake.url });
    expect(await backend.probe(signal())).toEqual({ kind: "ready", detail: "2 model(s)" });
    expect(fake.requests.map((request) => request.path)).toEqual(["/v1/models"]);
  });

  it("Ollama: /api/version then /api/ps, with the loaded models", async () => {
    const fake = await createOllamaFake({ models: [{ name: "llama3.2:1b", loaded: true }, { name: "qwen3:0.6b" }] });
    fakes.push(fake);
    const backend = createOllamaBackend({ id: "ollama", baseUrl: fake.url });
    expect(await backend.probe(signal())).toEqual({ kind: "ready", detail: "Ollama 0.12.3, 1 loaded", loadedModels: ["llama3.2:1b"] });
    expect(fake.requests.map((request) => request.path)).toEqual(["/api/version", "/api/ps"]);
  });

  it.each([
    ["openai", (url: string) => createOpenAiBackend({ id: "down", baseUrl: url })],
    ["ollama", (url: string) => createOllamaBackend({ id: "down", baseUrl: url })],
  ] as const)("%s: no answer is `down`", async (_kind, create) => {
    const backend: Backend = create(await refusedUrl());
    expect(await backend.probe(signal())).toEqual({ kind: "down", detail: 'backend "down" is unreachable (connection refused)' });
  });

  it("sends the call's extra headers upstream, but never lets them replace the credentials", async () => {
    const openAiFake = await createOpenAiFake({ flavour: "llamacpp" });
    const ollamaFake = await createOllamaFake();
    fakes.push(openAiFake, ollamaFake);
    const headers = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", authorization: "Bearer forged" };
    const openAi = createOpenAiBackend({ id: "llama", baseUrl: openAiFake.url, apiKey: "real" });
    const ollama = createOllamaBackend({ id: "ollama", baseUrl: ollamaFake.url, apiKey: "real" });

    await openAi.chat(chatRequest(), { backendModel: "m", signal: signal(), headers });
    await collect((await ollama.chatStream(chatRequest(), { backendModel: "llama3.2:1b", signal: signal(), headers })).result);

    for (const fake of [openAiFake, ollamaFake]) {
      const chat = fake.requests.at(-1);
      expect([chat?.headers["traceparent"], chat?.headers["authorization"]]).toEqual([headers.traceparent, "Bearer real"]);
    }
  });
});
