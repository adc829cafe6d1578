import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinishReason } from "../../../gen/protogate/v1/chat_pb.js";
import { InferenceService } from "../../../gen/protogate/v1/inference_service_pb.js";
import { ModelSchema, ModelService, ModelState } from "../../../gen/protogate/v1/model_service_pb.js";
import { createSandboxExecutor, type SandboxExecutor, type SdkReply } from "../../../sandbox/executor/index.js";
import { createHostBridge, createSandboxSdk, loadGatewayDescriptors, type SandboxSdk } from "../../../server/sandbox/index.js";

/** What reached the fake services (after validation). */
const received: string[] = [];

const model = create(ModelSchema, { id: "qwen", backend: "llamacpp", backendKind: "openai", backendModel: "qwen.gguf", state: ModelState.LOADED });

/** The gateway's in-process transport, over fakes of its services, with the same validation interceptor. */
const gatewayTransport = createRouterTransport(
  (router) => {
    router.service(ModelService, {
      listModels(request) {
        received.push(`listModels ${request.backend}`);
        return { models: [model] };
      },
      getModel(request) {
        received.push(`getModel ${request.model}`);
        if (request.model === "huge") return { model: { ...model, aliases: Array.from({ length: 10_000 }, (_, i) => `alias-${i}`) } };
        throw new ConnectError(`model "${request.model}" not found; available: qwen`, Code.NotFound);
      },
    });
    router.service(InferenceService, {
      async chat(request, context) {
        received.push(`chat ${request.model}`);
        if (request.model === "slow") {
          await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
          throw new ConnectError("aborted", Code.Canceled);
        }
        return { id: "chat-1", model: request.model, message: { content: "hi" }, finishReason: FinishReason.STOP };
      },
      async *chatStream(request) {
        received.push(`chatStream ${request.model}`);
        yield { event: { case: "start", value: { id: "chat-2", model: request.model } } };
        yield { event: { case: "contentDelta", value: { text: "Hel" } } };
        if (request.model === "broken") throw new ConnectError("backend llamacpp is unavailable", Code.Unavailable);
        yield { event: { case: "contentDelta", value: { text: "lo" } } };
        yield { event: { case: "end", value: { finishReason: FinishReason.STOP } } };
      },
    });
  },
  { router: { interceptors: [createValidateInterceptor()] } },
);

const chatJson = (model: string) => JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] });

let sdk: SandboxSdk;
let bridge: ReturnType<typeof createHostBridge>;

beforeAll(() => {
  sdk = createSandboxSdk({ gateway: loadGatewayDescriptors(), gatewayTransport, operators: [], allowedMethods: [] });
  bridge = createHostBridge({ routes: sdk.routes, maxResponseBytes: 64 * 1024 });
});

/** One call through the bridge, as the executor makes it. */
function call(service: string, method: string, requestJson: string, signal = new AbortController().signal): Promise<SdkReply> {
  return bridge({ service, method, requestJson, signal });
}

describe("the host bridge", () => {
  it("calls the service and answers JSON in the SDK's form (implicit fields present, enums by name)", async () => {
    const reply = await call("models", "listModels", "{}");
    expect(reply.kind).toBe("ok");
    expect(JSON.parse((reply as { responseJson: string }).responseJson)).toEqual({
      models: [
        {
          id: "qwen",
          backend: "llamacpp",
          backendKind: "openai",
          backendModel: "qwen.gguf",
          aliases: [],
          state: "MODEL_STATE_LOADED",
        },
      ],
    });
  });

  it.each([
    ["an unknown service", "chat", "send"],
    ["an unknown method", "models", "deleteModel"],
    ["an inherited property", "models", "constructor"],
    ["a prototype key", "__proto__", "toString"],
    ["a method of another service", "models", "chat"],
    ["the sandbox service itself", "sandbox", "execute"],
  ])("rejects %s as not_found and calls nothing", async (_what, service, method) => {
    const before = received.length;
    expect(await call(service, method, "{}")).toEqual({ kind: "error", code: "not_found", message: `gateway.${service}.${method} does not exist` });
    expect(received.length).toBe(before);
  });

  it.each([
    ["malformed JSON", '{"model": "qwen",', /^gateway\.inference\.chat: .*JSON/],
    ["an unknown field", '{"model":"qwen","mesages":[]}', /^gateway\.inference\.chat: cannot decode message protogate\.v1\.ChatRequest from JSON: key "mesages" is unknown$/],
    ["a wrong type", '{"model":42,"messages":[]}', /^gateway\.inference\.chat: cannot decode field protogate\.v1\.ChatRequest\.model from JSON: expected string, got 42$/],
    ["a wrong enum value", '{"model":"qwen","messages":[{"role":"USER","content":"hi"}]}', /^gateway\.inference\.chat: cannot decode enum protogate\.v1\.Role from JSON: "USER"$/],
    ["a broken rule", '{"model":"qwen","messages":[]}', /^messages: must contain at least 1 item\(s\) \[repeated\.min_items\]$/],
  ])("rejects %s as invalid_argument before anything is sent", async (_what, requestJson, message) => {
    const before = received.length;
    const reply = await call("inference", "chat", requestJson);
    expect(reply).toMatchObject({ kind: "error", code: "invalid_argument" });
    expect((reply as { message: string }).message).toMatch(message);
    expect(received.length).toBe(before);
  });

  it("checks a list over its max_items only as far as the limit, as the gateway's own validation does", async () => {
    const messages = Array.from({ length: 5000 }, (_, index) => ({ role: index === 4500 ? "ROLE_TOOL" : "ROLE_USER", content: "a" }));
    const reply = await call("inference", "chat", JSON.stringify({ model: "qwen", messages }));
    expect(reply).toMatchObject({ kind: "error", code: "invalid_argument" });
    // The tool result without tool_call_id at index 4500 lies past the limit (4096): not looked at.
    expect((reply as { message: string }).message).toBe("messages: must contain no more than 4096 item(s) [repeated.max_items]");
  });

  it("passes the service's error code and message through", async () => {
    expect(await call("models", "getModel", '{"model":"llama"}')).toEqual({
      kind: "error",
      code: "not_found",
      message: 'model "llama" not found; available: qwen',
    });
  });

  it("collects a server stream into a JSON array, in order", async () => {
    const reply = await call("inference", "chatStream", chatJson("qwen"));
    expect(reply.kind).toBe("ok");
    const events = JSON.parse((reply as { responseJson: string }).responseJson) as Array<Record<string, unknown>>;
    expect(events.map((event) => Object.keys(event)[0])).toEqual(["start", "contentDelta", "contentDelta", "end"]);
    expect(events[3]).toEqual({ end: { finishReason: "FINISH_REASON_STOP", rawFinishReason: "", warnings: [] } });
  });

  it("ends a stream that fails midway with its code, not a partial array", async () => {
    expect(await call("inference", "chatStream", chatJson("broken"))).toEqual({
      kind: "error",
      code: "unavailable",
      message: "backend llamacpp is unavailable",
    });
  });

  it("answers resource_exhausted for a response larger than the limit", async () => {
    expect(await call("models", "getModel", '{"model":"huge"}')).toEqual({
      kind: "error",
      code: "resource_exhausted",
      message: "gateway.models.getModel: the response is larger than 65536 bytes; ask for less",
    });
  });

  it("cancels the call when the run ends", async () => {
    const controller = new AbortController();
    const pending = call("inference", "chat", chatJson("slow"), controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toEqual({ kind: "error", code: "canceled", message: "gateway.inference.chat was canceled: the run ended" });
  });
});

describe("the host bridge behind the executor", () => {
  let executor: SandboxExecutor;
  beforeAll(() => {
    executor = createSandboxExecutor({ poolSize: 1 });
  });
  afterAll(async () => {
    await executor.close();
  });

  it("rejects a method the guest was given but the SDK does not have (a computed name or `as any`)", async () => {
    // A custom exposure wider than the SDK: only the bridge stands between the guest and a call.
    const exposed = { ...sdk.exposed, models: [...(sdk.exposed["models"] ?? []), "dropAll"] };
    const before = received.length;
    const result = await executor.execute({
      code: [
        'const name = "drop" + "All";',
        "try {",
        "  await (gateway.models as any)[name]({});",
        '  return "called";',
        "} catch (e) {",
        "  return e instanceof SdkError ? [e.code, e.message] : String(e);",
        "}",
      ].join("\n"),
      services: exposed,
      callSdk: bridge,
    });
    expect(result).toMatchObject({ kind: "ok", returnJson: '["not_found","gateway.models.dropAll does not exist"]' });
    expect(result.calls).toEqual([{ service: "models", method: "dropAll", durationMs: expect.any(Number), code: "not_found" }]);
    expect(received.length).toBe(before);
  });

  it("turns a validation failure into an SdkError the code can catch", async () => {
    const result = await executor.execute({
      code: 'try { await gateway.inference.chat({ model: "qwen", messages: [] }); } catch (e) { return e instanceof SdkError ? e.code : "other"; }',
      services: sdk.exposed,
      callSdk: bridge,
    });
    expect(result).toMatchObject({ kind: "ok", returnJson: '"invalid_argument"' });
  });
});
