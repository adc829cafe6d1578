import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, createProtogateClient, type ProtogateClient } from "../../sdk/index.js";
import { connectErrorOf } from "../helpers/async-outcomes.js";
import { createE2eClient, e2eTransports } from "../helpers/e2e-clients.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { type LlamaAndOllamaGateway, startLlamaAndOllamaGateway, startTestGateway } from "../helpers/start-test-gateway.js";

describe("grpc.health.v1", () => {
  describe("Check with every backend ready", () => {
    let setup: LlamaAndOllamaGateway;

    beforeAll(async () => {
      setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b" }] });
    });

    afterAll(() => setup.close());

    describe.each(e2eTransports)("over $name", (transport) => {
      const serving = [
        "",
        "protogate.v1.InferenceService",
        "protogate.v1.ModelService",
        "grpc.health.v1.Health",
        "model/qwen.gguf",
        "model/llama3.2:1b",
      ];

      it.each(serving)("reports %j as SERVING", async (service) => {
        const response = await createE2eClient(setup.gateway.url, transport).health.check({ service });
        expect(response.status).toBe(ServingStatus.SERVING);
      });

      it.each(["protogate.v1.NoSuchService", "model/missing"])("answers %j with not_found", async (service) => {
        const failure = await connectErrorOf(createE2eClient(setup.gateway.url, transport).health.check({ service }));
        expect([failure.code, failure.rawMessage]).toEqual([Code.NotFound, `unknown service "${service}"`]);
      });
    });
  });

  describe("Watch", () => {
    let llama: OpenAiFake;
    let gateway: RunningGateway;
    let client: ProtogateClient;

    beforeAll(async () => {
      llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
      llama.setLoading(true);
      gateway = await startTestGateway({
        // The config lists the model, so it is known (and not serving) while llama.cpp loads it.
        backends: [{ id: "llamacpp", kind: "openai", url: llama.url, models: ["qwen.gguf"] }],
        overrides: { discoveryIntervalMs: 3_600_000 },
      });
      client = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
    });

    afterAll(async () => {
      await gateway.close();
      await llama.close();
    });

    it("streams NOT_SERVING, then SERVING once llama.cpp has loaded, then NOT_SERVING again", async () => {
      expect((await client.health.check({ service: "model/qwen.gguf" })).status).toBe(ServingStatus.NOT_SERVING);
      expect((await client.health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);

      const controller = new AbortController();
      const model = client.health.watch({ service: "model/qwen.gguf" }, { signal: controller.signal })[Symbol.asyncIterator]();
      const server = client.health.watch({ service: "" }, { signal: controller.signal })[Symbol.asyncIterator]();
      try {
        expect((await model.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
        expect((await server.next()).value?.status).toBe(ServingStatus.NOT_SERVING);

        llama.setLoading(false);
        await gateway.catalog.refresh();
        expect((await model.next()).value?.status).toBe(ServingStatus.SERVING);
        expect((await server.next()).value?.status).toBe(ServingStatus.SERVING);

        llama.setLoading(true);
        await gateway.catalog.refresh();
        expect((await model.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
        expect((await server.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      } finally {
        controller.abort();
      }
      await expect(model.next()).rejects.toMatchObject({ code: Code.Canceled });
    });

    it("sends SERVICE_UNKNOWN for a name that does not exist (yet)", async () => {
      const controller = new AbortController();
      const watch = client.health.watch({ service: "model/not-pulled-yet" }, { signal: controller.signal })[Symbol.asyncIterator]();
      try {
        expect((await watch.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
      } finally {
        controller.abort();
      }
    });
  });
});
