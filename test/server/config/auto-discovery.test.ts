import { afterEach, describe, expect, it } from "vitest";
import { discoverLocalBackends, standardLocalBackends } from "../../../server/config/auto-discovery.js";
import { createOllamaFake, createOpenAiFake, type FakeUpstreamBase } from "../../helpers/fake-upstream/index.js";
import { refusedUrl } from "../../helpers/refused-url.js";

const fakes: FakeUpstreamBase[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** The standard candidate `id`, moved to the port of `url`. */
function candidateAt(id: string, url: string): (typeof standardLocalBackends)[number] {
  const standard = standardLocalBackends.find((candidate) => candidate.id === id);
  if (standard === undefined) throw new Error(`no standard candidate ${id}`);
  return { ...standard, port: portOf(url) };
}

describe("discoverLocalBackends", () => {
  it("checks Ollama, llama.cpp, LM Studio and vLLM on their standard ports", () => {
    expect(standardLocalBackends.map(({ id, kind, port, probePath }) => [id, kind, port, probePath])).toEqual([
      ["ollama", "ollama", 11434, "/api/version"],
      ["llamacpp", "openai", 8080, "/v1/models"],
      ["lmstudio", "openai", 1234, "/v1/models"],
      ["vllm", "openai", 8000, "/v1/models"],
    ]);
  });

  it("finds the servers that answer their probe, in candidate order, and skips the rest", async () => {
    const ollama = await createOllamaFake();
    const llama = await createOpenAiFake({ flavour: "llamacpp" });
    const vllm = await createOpenAiFake({ flavour: "vllm" });
    fakes.push(ollama, llama, vllm);
    const nothing = await refusedUrl();
    const found = await discoverLocalBackends({
      host: "127.0.0.1",
      timeoutMs: 5000,
      candidates: [
        candidateAt("ollama", ollama.url),
        candidateAt("llamacpp", llama.url),
        candidateAt("lmstudio", nothing),
        candidateAt("vllm", vllm.url),
      ],
    });
    expect(found).toEqual([
      { id: "ollama", kind: "ollama", url: ollama.url, product: "Ollama" },
      { id: "llamacpp", kind: "openai", url: llama.url, product: "llama.cpp llama-server" },
      { id: "vllm", kind: "openai", url: vllm.url, product: "vLLM" },
    ]);
    expect(ollama.requests.map((request) => `${request.method} ${request.path}`)).toEqual(["GET /api/version"]);
    expect(llama.requests.map((request) => `${request.method} ${request.path}`)).toEqual(["GET /v1/models"]);
  });

  it("counts a llama.cpp that answers 503 while loading", async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp" });
    fakes.push(llama);
    llama.setLoading(true);
    const found = await discoverLocalBackends({ host: "127.0.0.1", timeoutMs: 5000, candidates: [candidateAt("llamacpp", llama.url)] });
    expect(found.map((backend) => backend.id)).toEqual(["llamacpp"]);
  });

  it("skips a port whose server does not know the probe path", async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp" });
    fakes.push(llama);
    // An OpenAI-compatible server answers Ollama's /api/version with 404.
    const found = await discoverLocalBackends({ host: "127.0.0.1", timeoutMs: 5000, candidates: [candidateAt("ollama", llama.url)] });
    expect(found).toEqual([]);
    expect(llama.requests.map((request) => request.path)).toEqual(["/api/version"]);
  });

  it("finds nothing when no candidate answers", async () => {
    const found = await discoverLocalBackends({
      host: "127.0.0.1",
      timeoutMs: 5000,
      candidates: [candidateAt("vllm", await refusedUrl())],
    });
    expect(found).toEqual([]);
  });
});
