import { describe, expect, it, vi } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, ConnectError, createProtogateClient, Role } from "../../sdk/index.js";
import { collect } from "../helpers/async-outcomes.js";
import { createOpenAiFake } from "../helpers/fake-upstream/index.js";
import { parseExposition } from "../server/observability/exposition.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const streams = 40;
const shutdownGraceMs = 300;

describe("graceful shutdown under load", () => {
  it(`ends ${streams} concurrent streams with success or unavailable within the drain bound, and leaks nothing`, async () => {
    const llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    let gateway: RunningGateway | undefined;
    try {
      gateway = await startTestGateway({ backends: [{ id: "llamacpp", kind: "openai", url: llama.url }], overrides: { shutdownGraceMs } });
      // Half finish at once, half hang after two events until the drain ends them.
      for (let index = 0; index < streams; index++) {
        llama.enqueue(index % 2 === 0 ? { kind: "reply", content: "finished" } : { kind: "hang", afterChunks: 2, content: "never finished" });
      }
      const clients = [createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" }), createProtogateClient({ baseUrl: gateway.url, protocol: "connect" })];
      const outcomes = Array.from({ length: streams }, (_, index) =>
        collect((clients[index % 2] ?? clients[0])!.inference.chatStream({ model: "qwen.gguf", messages: [{ role: Role.USER, content: `story ${index}` }] })).then(
          (events) => (events.at(-1)?.event.case === "end" ? "ok" : `ended without end event after ${events.length}`),
          (error: unknown) => {
            const failure = ConnectError.from(error);
            return failure.code === Code.Unavailable ? "unavailable" : `${Code[failure.code]}: ${failure.rawMessage}`;
          },
        ),
      );
      // Every stream reached the backend; the hanging half are in flight.
      await vi.waitFor(() => expect(llama.requests.filter((request) => request.path === "/v1/chat/completions")).toHaveLength(streams), {
        timeout: 10_000,
        interval: 10,
      });
      await vi.waitFor(() => expect(gateway?.inFlight()).toBe(streams / 2), { timeout: 5000, interval: 10 });

      const started = performance.now();
      await gateway.close();
      const drained = performance.now() - started;
      const results = await Promise.all(outcomes);

      expect(drained).toBeGreaterThanOrEqual(shutdownGraceMs - 20);
      expect(drained).toBeLessThan(shutdownGraceMs + 1500);
      expect(results.filter((result) => result === "ok")).toHaveLength(streams / 2);
      expect(results.filter((result) => result === "unavailable")).toHaveLength(streams / 2);
      expect(gateway.inFlight()).toBe(0);
      const samples = parseExposition((await gateway.operations.renderMetrics()).text);
      const inFlight = samples.filter((sample) => sample.name === "protogate_in_flight_requests");
      expect(inFlight.every((sample) => sample.value === 0)).toBe(true);
      const byCode = (code: string) =>
        samples.find((sample) => sample.name === "protogate_requests_total" && sample.labels.method === "ChatStream" && sample.labels.code === code)?.value;
      expect([byCode("ok"), byCode("unavailable")]).toEqual([streams / 2, streams / 2]);
      expect(samples.find((sample) => sample.name === "protogate_queue_depth")?.value).toBe(0);
      // The upstream saw every hanging stream go away.
      await Promise.all(Array.from({ length: streams / 2 }, () => llama.waitForAbort()));
      expect(llama.abortedRequests).toBe(streams / 2);
    } finally {
      await gateway?.close();
      await llama.close();
    }
  });
});
