import { connect as connectTcp } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, createProtogateClient, FinishReason, type ProtogateProtocol, Role } from "../../sdk/index.js";
import { collect, connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { createGatedProxy, type GatedProxy } from "../helpers/gated-proxy.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const protocols: readonly ProtogateProtocol[] = ["connect", "grpc"];
const request = { model: "qwen.gguf", messages: [{ role: Role.USER, content: "Tell me a story" }] };

/** Resolves with the error code of a TCP connection attempt, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, "127.0.0.1");
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe("graceful shutdown", () => {
  let fake: OpenAiFake;

  beforeEach(async () => {
    fake = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
  });

  afterEach(async () => {
    await fake.close();
  });

  describe.each(protocols)("with a %s client", (protocol) => {
    it("ends a hanging stream with unavailable after the grace period, refusing new connections while draining", async () => {
      const shutdownGraceMs = 300;
      const gateway = await startTestGateway({
        backends: [{ id: "llamacpp", kind: "openai", url: fake.url }],
        overrides: { shutdownGraceMs },
      });
      try {
        const client = createProtogateClient({ baseUrl: gateway.url, protocol });
        const watcher = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
        fake.enqueue({ kind: "hang", afterChunks: 2, content: "never finished" });

        const stream = client.inference.chatStream(request)[Symbol.asyncIterator]();
        expect((await stream.next()).value?.event.case).toBe("start");
        expect((await stream.next()).value?.event.case).toBe("contentDelta");
        const readiness = watcher.health.watch({ service: "" })[Symbol.asyncIterator]();
        expect((await readiness.next()).value?.status).toBe(ServingStatus.SERVING);
        expect(gateway.inFlight()).toBe(2);

        const started = performance.now();
        const closed = gateway.close();

        // Draining: readiness drops at once and the listener accepts nothing new.
        expect((await readiness.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
        expect(await tryConnect(gateway.port)).toBe("ECONNREFUSED");

        const failure = await connectErrorOf(stream.next());
        expect([failure.code, failure.rawMessage]).toEqual([Code.Unavailable, "the gateway is shutting down"]);
        await closed;
        const elapsed = performance.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(shutdownGraceMs - 20);
        // Well under the extra 2 s the server waits after aborting: the abort ended everything.
        expect(elapsed).toBeLessThan(shutdownGraceMs + 1500);
        await fake.waitForAbort();
        expect(gateway.inFlight()).toBe(0);
        // Health.Watch ends like every other call, with unavailable, not with OK.
        const watchEnd = await connectErrorOf(readiness.next());
        expect([watchEnd.code, watchEnd.rawMessage]).toEqual([Code.Unavailable, "the gateway is shutting down"]);
      } finally {
        await gateway.close();
      }
    });

    it("lets a stream that finishes within the grace period complete normally", async () => {
      let proxy: GatedProxy | undefined;
      let gateway: RunningGateway | undefined;
      try {
        proxy = await createGatedProxy({ target: fake.url, hold: (method) => method === "POST" });
        gateway = await startTestGateway({
          backends: [{ id: "llamacpp", kind: "openai", url: proxy.url }],
          overrides: { shutdownGraceMs: 10_000 },
        });
        const client = createProtogateClient({ baseUrl: gateway.url, protocol });
        fake.enqueue({ kind: "reply", content: "finished in time" });

        const events = collect(client.inference.chatStream(request));
        await proxy.waitForHeld();
        expect(gateway.inFlight()).toBe(1);
        const started = performance.now();
        const closed = gateway.close();
        proxy.release();

        const responses = await events;
        const text = responses.flatMap((response) => (response.event.case === "contentDelta" ? [response.event.value.text] : [])).join("");
        expect(text).toBe("finished in time");
        const end = responses.at(-1)?.event;
        expect(end?.case === "end" ? [end.value.finishReason, end.value.rawFinishReason] : end?.case).toEqual([FinishReason.STOP, "stop"]);
        await closed;
        expect(performance.now() - started).toBeLessThan(5000);
        expect(fake.abortedRequests).toBe(0);
        expect(gateway.inFlight()).toBe(0);
      } finally {
        await gateway?.close();
        await proxy?.close();
      }
    });
  });
});
