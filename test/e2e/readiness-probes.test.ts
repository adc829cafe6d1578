import { afterEach, describe, expect, it, vi } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { RunningGateway } from "../../server/gateway.js";
import { createProtogateClient, ModelState } from "../../sdk/index.js";
import { createOllamaFake, createOpenAiFake } from "../helpers/fake-upstream/index.js";
import { scrapeMetrics } from "../helpers/scrape-metrics.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

/** Fast probes; discovery so rare that only the probes (and what they trigger) can move anything. */
const probe = { intervalMs: 50, timeoutMs: 1000 };
const noPeriodicDiscovery = { discoveryIntervalMs: 3_600_000 };

describe("readiness from active probes", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function started(gateway: Promise<RunningGateway>): Promise<RunningGateway> {
    const running = await gateway;
    cleanups.push(() => running.close());
    return running;
  }

  it("Health.Watch streams llama.cpp's load (503 on /health) turning SERVING and back, and /readyz and the gauges follow", async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    cleanups.push(() => llama.close());
    llama.setLoading(true);
    const gateway = await started(
      startTestGateway({
        backends: [{ id: "llamacpp", kind: "openai", url: llama.url, models: ["qwen.gguf"], policy: { probe } }],
        overrides: noPeriodicDiscovery,
      }),
    );
    const client = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
    const controller = new AbortController();
    const model = client.health.watch({ service: "model/qwen.gguf" }, { signal: controller.signal })[Symbol.asyncIterator]();
    const server = client.health.watch({ service: "" }, { signal: controller.signal })[Symbol.asyncIterator]();
    try {
      expect((await model.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      expect((await server.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);

      llama.setLoading(false);
      expect((await model.next()).value?.status).toBe(ServingStatus.SERVING);
      expect((await server.next()).value?.status).toBe(ServingStatus.SERVING);
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
      const ready = await scrapeMetrics(gateway.url);
      expect([ready.value("protogate_backend_ready", { backend: "llamacpp" }), ready.value("protogate_model_ready", { model: "qwen.gguf", backend: "llamacpp" })]).toEqual([1, 1]);

      llama.setLoading(true);
      expect((await model.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      expect((await server.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      const loading = await scrapeMetrics(gateway.url);
      expect([loading.value("protogate_backend_up", { backend: "llamacpp" }), loading.value("protogate_backend_ready", { backend: "llamacpp" })]).toEqual([1, 0]);
      expect(llama.requests.some((request) => request.path === "/health")).toBe(true);
    } finally {
      controller.abort();
    }
  });

  it("Ollama: probes /api/version and /api/ps, follows loads, and a backend that goes away turns NOT_SERVING", async () => {
    const ollama = await createOllamaFake({ models: [{ name: "llama3.2:1b" }] });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await ollama.close();
    });
    const gateway = await started(
      startTestGateway({ backends: [{ id: "ollama", kind: "ollama", url: ollama.url, policy: { probe } }], overrides: noPeriodicDiscovery }),
    );
    const client = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
    expect((await client.models.getModel({ model: "llama3.2:1b" })).model?.state).toBe(ModelState.AVAILABLE);

    // Another client loads the model: /api/ps changes, the probe notices, a discovery follows.
    ollama.setLoaded("llama3.2:1b", true);
    await vi.waitFor(async () => expect((await client.models.getModel({ model: "llama3.2:1b" })).model?.state).toBe(ModelState.LOADED), {
      timeout: 5000,
      interval: 20,
    });
    const paths = new Set(ollama.requests.map((request) => request.path));
    expect([paths.has("/api/version"), paths.has("/api/ps")]).toEqual([true, true]);

    const controller = new AbortController();
    const watch = client.health.watch({ service: "model/llama3.2:1b" }, { signal: controller.signal })[Symbol.asyncIterator]();
    try {
      expect((await watch.next()).value?.status).toBe(ServingStatus.SERVING);
      closed = true;
      await ollama.close();
      expect((await watch.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      const down = await scrapeMetrics(gateway.url);
      expect([down.value("protogate_backend_up", { backend: "ollama" }), down.value("protogate_backend_ready", { backend: "ollama" })]).toEqual([0, 0]);
      const readyz = await fetch(`${gateway.url}/readyz`);
      expect(readyz.status).toBe(503);
      expect(await readyz.json()).toMatchObject({ backends: [{ id: "ollama", reachable: false, ready: false }] });
    } finally {
      controller.abort();
    }
  });

  it("shows a backend URL's credentials in /readyz as ***, while the backend still receives them", async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    cleanups.push(() => llama.close());
    const withCredentials = llama.url.replace("http://", "http://operator:s3cret-token@");
    const gateway = await started(startTestGateway({ backends: [{ id: "llamacpp", kind: "openai", url: withCredentials, policy: { probe } }] }));
    const readyz = await (await fetch(`${gateway.url}/readyz`)).text();
    expect(readyz).not.toContain("s3cret");
    expect(readyz).not.toContain("operator");
    expect(JSON.parse(readyz).backends[0].url).toBe(llama.url.replace("http://", "http://***@"));
    expect(llama.requests.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from("operator:s3cret-token").toString("base64")}`);
  });
});
