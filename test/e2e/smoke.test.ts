import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OllamaFake, OpenAiFake } from "../helpers/fake-upstream/index.js";
import { type LlamaAndOllamaGateway, startLlamaAndOllamaGateway } from "../helpers/start-test-gateway.js";
import type { RunningGateway } from "../../server/gateway.js";
import { createProtogateClient, Role, streamChat } from "../../sdk/index.js";

describe("gateway smoke", () => {
  let setup: LlamaAndOllamaGateway;
  let llama: OpenAiFake;
  let ollama: OllamaFake;
  let gateway: RunningGateway;
  beforeAll(async () => {
    setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b", capabilities: ["completion", "tools"] }] });
    ({ llama, ollama, gateway } = setup);
  });
  afterAll(() => setup.close());

  it("streams tool calls from both backends byte-identical", async () => {
    const args = '{"10":1,"2":1.0,"n":12345678901234567890,"s":"é\\n\\u00e9"}';
    for (const [model, fake] of [["qwen.gguf", llama], ["llama3.2:1b", ollama]] as const) {
      for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
        fake.enqueue({ kind: "reply", content: "hi", toolCalls: [{ id: "call_1", name: "lookup", argumentsText: args }] });
        const client = createProtogateClient({ baseUrl: gateway.url, protocol });
        const calls: string[] = [];
        for await (const chunk of streamChat(client, { model, messages: [{ role: Role.USER, content: "x" }] })) {
          if (chunk.kind === "tool-call") calls.push(chunk.call.arguments);
        }
        expect(calls, `${model} ${protocol}`).toEqual([args]);
        fake.enqueue({ kind: "reply", content: "hi", toolCalls: [{ id: "call_1", name: "lookup", argumentsText: args }] });
        const unary = await client.inference.chat({ model, messages: [{ role: Role.USER, content: "x" }] });
        expect(unary.message?.toolCalls[0]?.arguments, `${model} ${protocol} unary`).toBe(args);
      }
    }
  });
});
