import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, createProtogateClient, Role } from "../../sdk/index.js";
import { connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const request = { model, messages: [{ role: Role.USER, content: "hi" }] };

describe("load shedding at limits.maxInFlightRequests", () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    gateway = await startTestGateway({ backends: [{ id: "llama", kind: "openai", url: llama.url }], overrides: { maxInFlightRequests: 1 } });
  });
  afterAll(async () => {
    await gateway.close();
    await llama.close();
  });

  it("answers unavailable over gRPC and Connect while the gateway is full, keeps its probes, and serves again after", async () => {
    llama.enqueue({ kind: "hang" });
    const busy = new AbortController();
    const holding = connectErrorOf(createProtogateClient({ baseUrl: gateway.url }).inference.chat(request, { signal: busy.signal }));
    await llama.waitForRequest(llama.requests.length);

    for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
      const error = await connectErrorOf(createProtogateClient({ baseUrl: gateway.url, protocol }).inference.chat(request));
      expect([protocol, error.code]).toEqual([protocol, Code.Unavailable]);
    }
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).toMatch(/^protogate_requests_shed_total 3$/m);

    busy.abort();
    expect((await holding).code).toBe(Code.Canceled);
    llama.enqueue({ kind: "reply", content: "room again" });
    await expect.poll(async () => (await createProtogateClient({ baseUrl: gateway.url }).inference.chat(request)).message?.content).toBe("room again");
  });
});
