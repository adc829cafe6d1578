import { Code } from "@connectrpc/connect";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { Role, ToolChoiceMode, WarningCode } from "../../../../gen/protogate/v1/chat_pb.js";
import { ModelState } from "../../../../gen/protogate/v1/model_service_pb.js";
import type { Backend, BackendCallOptions, BackendStreamEvent } from "../../../../server/backends/backend.js";
import { createOpenAiBackend } from "../../../../server/backends/openai/backend.js";
import { openAiOptionAllowlist } from "../../../../server/backends/openai/map.js";
import { createToolCallAssembler } from "../../../../server/chat/tool-call-assembler.js";
import { collect, collectUntilError, connectErrorOf } from "../../../helpers/async-outcomes.js";
import { backendErrorDetails } from "../../../helpers/backend-error-detail.js";
import { chatRequest } from "../../../helpers/chat-request.js";
import { createOpenAiFake, type OpenAiFake, type OpenAiFlavour, splitFragments } from "../../../helpers/fake-upstream/index.js";
import { refusedUrl } from "../../../helpers/refused-url.js";
import { SPACED_SCHEMA, TRICKY_ARGUMENTS } from "../../../helpers/tricky-json.js";

const flavours: readonly OpenAiFlavour[] = ["llamacpp", "vllm"];
const fakes: OpenAiFake[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

/** A fake of the flavour and a backend in front of it (not yet discovered). */
async function setup(flavour: OpenAiFlavour, contextLength?: number): Promise<{ fake: OpenAiFake; backend: Backend }> {
  const fake = await createOpenAiFake(contextLength === undefined ? { flavour } : { flavour, contextLength });
  fakes.push(fake);
  return { fake, backend: createOpenAiBackend({ id: flavour, baseUrl: fake.url }) };
}

function call(fake: OpenAiFake, signal = new AbortController().signal): BackendCallOptions {
  return { backendModel: fake.models[0] ?? "", signal };
}

/** The body of the last chat request the fake received. */
function lastChatBody(fake: OpenAiFake): { text: string; json: Record<string, unknown> } {
  const request = fake.requests.filter((recorded) => recorded.path === "/v1/chat/completions").at(-1);
  if (request === undefined) throw new Error("the fake received no chat request");
  return { text: request.bodyText, json: request.body as Record<string, unknown> };
}

/** What llama.cpp's timings turn into; vLLM reports none. */
function backendTimings(flavour: OpenAiFlavour, prompt: number, completion: number) {
  return flavour === "llamacpp" ? { promptMs: prompt * 1.25, generationMs: completion * 8 } : {};
}

function toolDeltas(events: readonly BackendStreamEvent[]) {
  return events.filter((event) => event.kind === "tool-call-delta");
}

describe("OpenAI-compatible backend: discovery", () => {
  it("detects llama.cpp, reads n_ctx_train and size, and checks /health", async () => {
    const { fake, backend } = await setup("llamacpp", 8192);
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "reachable",
      ready: true,
      models: [
        {
          name: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
          state: ModelState.LOADED,
          capabilities: {},
          contextLength: 8192,
          sizeBytes: 799862912n,
        },
      ],
      detail: "llama.cpp ready",
    });
    expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual(["GET /v1/models", "GET /health"]);
  });

  it("detects vLLM and takes the context length from max_model_len", async () => {
    const { fake, backend } = await setup("vllm", 32768);
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "reachable",
      ready: true,
      models: [{ name: "Qwen/Qwen3-0.6B", state: ModelState.LOADED, capabilities: {}, contextLength: 32768, sizeBytes: undefined }],
      detail: "1 model(s)",
    });
    expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual(["GET /v1/models", "GET /health"]);
  });

  it("reports a loading llama.cpp as reachable but not ready, with its models LOADING, then ready again", async () => {
    const { fake, backend } = await setup("llamacpp");
    const signal = new AbortController().signal;
    expect(await backend.discover(signal)).toMatchObject({ kind: "reachable", ready: true });

    fake.setLoading(true);
    const loading = await backend.discover(signal);
    expect(loading).toMatchObject({ kind: "reachable", ready: false });
    expect(loading.kind === "reachable" ? loading.models.map((model) => [model.name, model.state]) : []).toEqual([
      ["Llama-3.2-1B-Instruct-Q4_K_M.gguf", ModelState.LOADING],
    ]);

    fake.setLoading(false);
    const ready = await backend.discover(signal);
    expect(ready).toMatchObject({ kind: "reachable", ready: true });
    expect(ready.kind === "reachable" ? ready.models.map((model) => [model.name, model.state]) : []).toEqual([
      ["Llama-3.2-1B-Instruct-Q4_K_M.gguf", ModelState.LOADED],
    ]);
  });

  it("reports a llama.cpp that is loading at the first look as reachable and not ready", async () => {
    const { fake, backend } = await setup("llamacpp");
    fake.setLoading(true);
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "reachable",
      ready: false,
      models: [],
      detail: "the server is loading the model",
    });
  });

  it("reports a vLLM whose /health fails as reachable but not ready, with its models UNAVAILABLE", async () => {
    const { fake, backend } = await setup("vllm");
    const signal = new AbortController().signal;
    fake.setLoading(true);
    expect(await backend.discover(signal)).toEqual({
      kind: "reachable",
      ready: false,
      models: [{ name: "Qwen/Qwen3-0.6B", state: ModelState.UNAVAILABLE, capabilities: {}, contextLength: 4096, sizeBytes: undefined }],
      detail: "vLLM health check failed",
    });
    fake.setLoading(false);
    expect(await backend.discover(signal)).toMatchObject({ kind: "reachable", ready: true, detail: "1 model(s)" });
  });

  it.each(["llamacpp", "vllm"] as const)("reuses one keep-alive connection across discoveries of %s", async (flavour) => {
    const { fake, backend } = await setup(flavour);
    for (let round = 0; round < 5; round++) {
      expect(await backend.discover(new AbortController().signal)).toMatchObject({ kind: "reachable", ready: true });
    }
    // /v1/models and /health, five times, over the shared keep-alive agent.
    expect(fake.requests).toHaveLength(10);
    expect(fake.connectionCount).toBe(1);
  });

  it("reports a refused connection as unreachable", async () => {
    const backend = createOpenAiBackend({ id: "down", baseUrl: await refusedUrl() });
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "unreachable",
      detail: 'backend "down" is unreachable (connection refused)',
    });
  });

  it("sends the API key as a bearer token", async () => {
    const fake = await createOpenAiFake({ flavour: "vllm" });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: "vllm", baseUrl: `${fake.url}/`, apiKey: "sk-local" });
    await backend.discover(new AbortController().signal);
    await backend.chat(chatRequest(), call(fake));
    expect(fake.requests.map((request) => [request.path, request.headers["authorization"]])).toEqual([
      ["/v1/models", "Bearer sk-local"],
      ["/health", "Bearer sk-local"],
      ["/v1/chat/completions", "Bearer sk-local"],
    ]);
  });
});

describe.each(flavours)("OpenAI-compatible backend (%s): chat", (flavour) => {
  it("returns tool-call arguments byte-identical, with ids, usage and timings", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "reply",
      content: "Calling.",
      toolCalls: [{ id: "call_1", name: "lookup", argumentsText: TRICKY_ARGUMENTS }],
      usage: { prompt: 7, completion: 5 },
    });
    const { warnings, result } = await backend.chat(chatRequest(), call(fake));
    expect(warnings).toEqual([]);
    expect(result).toEqual({
      content: "Calling.",
      reasoning: "",
      toolCalls: [{ id: "call_1", name: "lookup", arguments: TRICKY_ARGUMENTS }],
      rawFinishReason: "tool_calls",
      usage: { promptTokens: 7, completionTokens: 5 },
      timings: backendTimings(flavour, 7, 5),
    });
  });

  it("leaves a missing tool-call id undefined", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "reply", toolCalls: [{ name: "lookup", argumentsText: "{}" }] });
    const { result } = await backend.chat(chatRequest(), call(fake));
    expect(result.toolCalls).toEqual([{ id: undefined, name: "lookup", arguments: "{}" }]);
    expect(result.content).toBe("");
  });

  it.each(["reasoning_content", "reasoning"] as const)("reads reasoning sent as %s", async (reasoningField) => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "reply", reasoning: "Let me think.", reasoningField, content: "42" });
    const { result } = await backend.chat(chatRequest(), call(fake));
    expect([result.reasoning, result.content, result.rawFinishReason]).toEqual(["Let me think.", "42", "stop"]);
  });
});

describe.each(flavours)("OpenAI-compatible backend (%s): chatStream", (flavour) => {
  it("yields argument fragments that concatenate byte-identically", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "reply",
      toolCalls: [{ id: "call_1", name: "lookup", argumentsText: TRICKY_ARGUMENTS }],
      fragmentSize: 3,
      usage: { prompt: 4, completion: 9 },
    });
    const { warnings, result } = await backend.chatStream(chatRequest(), call(fake));
    const events = await collect(result);
    const fragments = splitFragments(TRICKY_ARGUMENTS, 3);
    expect(events).toEqual([
      { kind: "tool-call-delta", index: 0, id: "call_1", name: "lookup", argumentsFragment: "" },
      ...fragments.map((fragment) => ({
        kind: "tool-call-delta",
        index: 0,
        id: undefined,
        name: undefined,
        argumentsFragment: fragment,
      })),
      {
        kind: "finish",
        rawFinishReason: "tool_calls",
        usage: { promptTokens: 4, completionTokens: 9 },
        timings: backendTimings(flavour, 4, 9),
      },
    ]);
    expect(warnings).toEqual([]);
    expect(toolDeltas(events).map((event) => event.argumentsFragment).join("")).toBe(TRICKY_ARGUMENTS);
  });

  it("yields content and reasoning deltas in order", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "reply", reasoning: "Hmm, é?", content: "Bonjour 🦙!", usage: { prompt: 3, completion: 4 } });
    const events = await collect((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(events).toEqual([
      ...splitFragments("Hmm, é?", 4).map((text) => ({ kind: "reasoning", text })),
      ...splitFragments("Bonjour 🦙!", 4).map((text) => ({ kind: "content", text })),
      { kind: "finish", rawFinishReason: "stop", usage: { promptTokens: 3, completionTokens: 4 }, timings: backendTimings(flavour, 3, 4) },
    ]);
  });

  it("reads streamed reasoning under the newer `reasoning` name", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "reply", reasoning: "step one", reasoningField: "reasoning", content: "done" });
    const events = await collect((await backend.chatStream(chatRequest(), call(fake))).result);
    const text = (kind: "reasoning" | "content") =>
      events.flatMap((event) => (event.kind === kind ? [event.text] : [])).join("");
    expect([text("reasoning"), text("content")]).toEqual(["step one", "done"]);
  });

  it("leaves missing ids undefined on every fragment", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "reply", toolCalls: [{ name: "lookup", argumentsText: '{"q":"x"}' }], fragmentSize: 100 });
    const events = await collect((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(toolDeltas(events)).toEqual([
      { kind: "tool-call-delta", index: 0, id: undefined, name: "lookup", argumentsFragment: "" },
      { kind: "tool-call-delta", index: 0, id: undefined, name: undefined, argumentsFragment: '{"q":"x"}' },
    ]);
  });

  it("yields parallel calls at their own indexes", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "reply",
      toolCalls: [
        { id: "a", name: "f", argumentsText: '{"x":1}' },
        { id: "b", name: "g", argumentsText: '{"y":2}' },
      ],
      fragmentSize: 100,
    });
    const events = await collect((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(toolDeltas(events).map((event) => [event.index, event.id, event.name, event.argumentsFragment])).toEqual([
      [0, "a", "f", ""],
      [0, undefined, undefined, '{"x":1}'],
      [1, "b", "g", ""],
      [1, undefined, undefined, '{"y":2}'],
    ]);
  });

  it("passes parallel calls that all say index 0 through unchanged; the assembler separates them by id", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "reply",
      toolCalls: [
        { id: "a", name: "f", argumentsText: '{"x":1}', index: 0 },
        { id: "b", name: "g", argumentsText: '{"y":2}', index: 0 },
      ],
      fragmentSize: 3,
    });
    const events = await collect((await backend.chatStream(chatRequest(), call(fake))).result);
    const deltas = toolDeltas(events);
    expect(new Set(deltas.map((event) => event.index))).toEqual(new Set([0]));

    const assembler = createToolCallAssembler();
    for (const delta of deltas) assembler.addDelta(delta);
    const { calls, warnings } = assembler.complete();
    expect(warnings).toEqual([]);
    expect(calls.map(({ index, call: done }) => [index, done.id, done.name, done.arguments])).toEqual([
      [0, "a", "f", '{"x":1}'],
      [1, "b", "g", '{"y":2}'],
    ]);
  });
});

describe("OpenAI-compatible backend: the request body", () => {
  it("maps a full request, splicing schemas and the 64-bit seed verbatim", async () => {
    const { fake, backend } = await setup("llamacpp");
    await backend.discover(new AbortController().signal);
    const responseSchema = '{"type":"object","properties":{"z":{},"a":{}},  "required":["z"]}';
    const request = chatRequest({
      messages: [
        { role: Role.DEVELOPER, content: "Be brief." },
        { role: Role.USER, content: "Weather?" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "call_1", name: "lookup", arguments: TRICKY_ARGUMENTS }] },
        { role: Role.TOOL, toolCallId: "call_1", content: "sunny" },
      ],
      tools: [{ name: "lookup", description: "Looks things up.", parametersJson: SPACED_SCHEMA, strict: true }, { name: "noop" }],
      toolChoice: { choice: { case: "mode", value: ToolChoiceMode.REQUIRED } },
      parallelToolCalls: false,
      responseFormat: { format: { case: "jsonSchema", value: { name: "", schemaJson: responseSchema, strict: true } } },
      sampling: {
        temperature: 0.7,
        topP: 0.9,
        topK: 40,
        minP: 0.05,
        maxTokens: 128,
        seed: 9223372036854775807n,
        stop: ["</s>"],
        presencePenalty: 0.5,
        frequencyPenalty: -0.5,
        repeatPenalty: 1.1,
      },
      reasoning: false,
      backendOptions: { openai: { cache_prompt: true, n_probs: 2, guided_choice: ["a", "b"] } },
    });
    const { warnings } = await backend.chat(request, call(fake));
    expect(warnings).toEqual([
      { code: WarningCode.ROLE_MAPPED, message: "developer message sent as a system message", field: "messages[0].role" },
    ]);
    const { text, json } = lastChatBody(fake);
    expect(text).toContain(`"parameters":${SPACED_SCHEMA},"strict":true}`);
    expect(text).toContain(`"schema":${responseSchema}`);
    expect(text).toContain('"seed":9223372036854775807,');
    expect(json).toEqual({
      model: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: TRICKY_ARGUMENTS } }],
        },
        { role: "tool", content: "sunny", tool_call_id: "call_1" },
      ],
      stream: false,
      tools: [
        { type: "function", function: { name: "lookup", description: "Looks things up.", parameters: JSON.parse(SPACED_SCHEMA), strict: true } },
        { type: "function", function: { name: "noop", parameters: { type: "object", properties: {} } } },
      ],
      tool_choice: "required",
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "response", schema: JSON.parse(responseSchema), strict: true } },
      temperature: 0.7,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      max_tokens: 128,
      seed: 9223372036854775807,
      stop: ["</s>"],
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      repeat_penalty: 1.1,
      chat_template_kwargs: { enable_thinking: false },
      cache_prompt: true,
      n_probs: 2,
      guided_choice: ["a", "b"],
    });
  });

  it("keeps the earlier arguments text exact inside the JSON string", async () => {
    const { fake, backend } = await setup("llamacpp");
    const request = chatRequest({
      messages: [{ role: Role.ASSISTANT, content: "x", toolCalls: [{ id: "c", name: "f", arguments: TRICKY_ARGUMENTS }] }],
    });
    await backend.chat(request, call(fake));
    expect(lastChatBody(fake).text).toContain(`"arguments":${JSON.stringify(TRICKY_ARGUMENTS)}`);
  });

  it("asks for usage when streaming and splices the most negative seed exactly", async () => {
    const { fake, backend } = await setup("vllm");
    await collect((await backend.chatStream(chatRequest({ sampling: { seed: -9223372036854775808n } }), call(fake))).result);
    const { text, json } = lastChatBody(fake);
    expect(text).toContain('"seed":-9223372036854775808}');
    expect(json).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it.each([
    ["llamacpp", "repeat_penalty"],
    ["vllm", "repetition_penalty"],
  ] as const)("names the repeat penalty for %s as %s once discovered", async (flavour, field) => {
    const { fake, backend } = await setup(flavour);
    await backend.discover(new AbortController().signal);
    await backend.chat(chatRequest({ sampling: { repeatPenalty: 1.3 } }), call(fake));
    const { json } = lastChatBody(fake);
    expect(Object.keys(json).filter((key) => key.includes("penalty"))).toEqual([field]);
    expect(json[field]).toBe(1.3);
  });

  it("sends response_format json_object and a named tool choice", async () => {
    const { fake, backend } = await setup("llamacpp");
    const request = chatRequest({
      tools: [{ name: "f", parametersJson: "{}" }],
      toolChoice: { choice: { case: "function", value: "f" } },
      responseFormat: { format: { case: "jsonObject", value: {} } },
    });
    await backend.chat(request, call(fake));
    expect(lastChatBody(fake).json).toMatchObject({
      tool_choice: { type: "function", function: { name: "f" } },
      response_format: { type: "json_object" },
    });
  });

  it("warns about earlier reasoning and ollama options, which it does not send", async () => {
    const { fake, backend } = await setup("llamacpp");
    const request = chatRequest({
      messages: [{ role: Role.ASSISTANT, content: "a", reasoning: "r" }],
      backendOptions: { ollama: { num_ctx: 8 } },
    });
    const { warnings } = await backend.chat(request, call(fake));
    expect(warnings.map((warning) => [warning.code, warning.field])).toEqual([
      [WarningCode.PARAMETER_IGNORED, "messages[0].reasoning"],
      [WarningCode.PARAMETER_IGNORED, "backend_options.ollama"],
    ]);
    expect(lastChatBody(fake).json).toEqual({ model: fake.models[0], messages: [{ role: "assistant", content: "a" }], stream: false });
  });

  it("rejects an unknown backend option with invalid_argument naming the allowed keys, before calling upstream", async () => {
    const { fake, backend } = await setup("llamacpp");
    const error = await connectErrorOf(backend.chat(chatRequest({ backendOptions: { openai: { cache_promt: true } } }), call(fake)));
    const allowed = Object.keys(openAiOptionAllowlist).sort().join(", ");
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(`backend_options.openai.cache_promt: unknown option "cache_promt"; allowed: ${allowed}`);
    const violations = error.findDetails(ViolationsSchema)[0]?.violations ?? [];
    expect(violations.map((violation) => [violation.ruleId, violation.field?.elements.map((element) => element.fieldName)])).toEqual([
      ["backend_options.unknown_key", ["backend_options", "openai", "cache_promt"]],
    ]);
    expect(fake.requests).toEqual([]);
  });

  it.each([
    [{ cache_prompt: "yes" }, 'backend_options.openai.cache_prompt: option "cache_prompt" must be a boolean'],
    [{ n_probs: 1.5 }, 'backend_options.openai.n_probs: option "n_probs" must be an integer'],
    [{ guided_choice: "a" }, 'backend_options.openai.guided_choice: option "guided_choice" must be an array'],
  ])("rejects a backend option of the wrong type (%j)", async (options, message) => {
    const { fake, backend } = await setup("vllm");
    const error = await connectErrorOf(backend.chatStream(chatRequest({ backendOptions: { openai: options } }), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, message]);
    expect(fake.requests).toEqual([]);
  });

  it.each(["constructor", "toString", "__proto__"])("treats the inherited name %s as an unknown option", async (key) => {
    const { fake, backend } = await setup("llamacpp");
    const options: Record<string, number> = {};
    Object.defineProperty(options, key, { value: 1, enumerable: true });
    const error = await connectErrorOf(backend.chat(chatRequest({ backendOptions: { openai: options } }), call(fake)));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(`unknown option "${key}"; allowed: `);
  });
});

describe.each(flavours)("OpenAI-compatible backend (%s): failures", (flavour) => {
  it("maps a 503 while loading to unavailable and retryable", async () => {
    const { fake, backend } = await setup(flavour);
    fake.setLoading(true);
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe(
      flavour === "llamacpp" ? 'backend "llamacpp" is still loading the model' : 'backend "vllm" is unavailable (HTTP 503)',
    );
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 503, retryable: true, retryAfterMs: 0 }]);
  });

  it("maps a missing model to not_found", async () => {
    const { fake, backend } = await setup(flavour);
    // vLLM answers 404 for a model it does not serve; llama.cpp serves any name, so script its 404.
    if (flavour === "llamacpp") fake.enqueue({ kind: "http-error", status: 404 });
    const error = await connectErrorOf(backend.chat(chatRequest(), { ...call(fake), backendModel: "no-such-model" }));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toBe(
      flavour === "llamacpp"
        ? 'backend "llamacpp" does not have the model (HTTP 404)'
        : 'backend "vllm" does not have the requested model',
    );
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 404, retryable: false, retryAfterMs: 0 }]);
  });

  it("maps 429 with Retry-After to resource_exhausted with retryAfterMs", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "http-error", status: 429, headers: { "Retry-After": "3" } });
    const error = await connectErrorOf(backend.chatStream(chatRequest(), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([Code.ResourceExhausted, `backend "${flavour}" is overloaded (HTTP 429)`]);
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 429, retryable: true, retryAfterMs: 3000 }]);
  });

  it("maps a mid-stream error to internal after the events before it, without the upstream text", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "midstream-error", afterChunks: 2, message: "SECRET context shift failed at /opt/model" });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items).toEqual([{ kind: "content", text: "Hell" }]);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" reported an error during generation`]);
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 200, retryable: false, retryAfterMs: 0 }]);
    expect(String(error.cause)).toContain("SECRET context shift failed");
  });

  it("maps an upstream 500 to internal without echoing its body", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "http-error", status: 500, body: '{"error":{"message":"SECRET Traceback (most recent call last)"}}' });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" failed (HTTP 500)`]);
    expect(error.message).not.toContain("SECRET");
    expect(String(error.cause)).toContain("SECRET Traceback");
  });

  it("maps a connection dropped mid-stream to unavailable", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "drop", afterChunks: 2 });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items).toEqual([{ kind: "content", text: "Hell" }]);
    expect([error.code, error.rawMessage]).toEqual([
      Code.Unavailable,
      `backend "${flavour}" closed the connection before the answer was complete`,
    ]);
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 0, retryable: true, retryAfterMs: 0 }]);
  });

  it("maps a connection dropped before any answer to unavailable", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "drop", afterChunks: 0 });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect(error.code).toBe(Code.Unavailable);
    expect(backendErrorDetails(error)).toEqual([{ backend: flavour, httpStatus: 0, retryable: true, retryAfterMs: 0 }]);
  });

  it("maps a malformed completion body to internal without echoing it", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/json" }, body: "<html>SECRET proxy page</html>" });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" sent a malformed response`]);
    expect(error.message).not.toContain("SECRET");
  });

  it("maps a completion without choices to internal", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/json" }, body: '{"choices":[]}' });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" sent a malformed response`]);
  });

  it("maps a malformed stream chunk to internal", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "raw",
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: 'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\ndata: {"choices":[{SECRET\n\n',
    });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items).toEqual([{ kind: "content", text: "ok" }]);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" sent a malformed response`]);
  });

  it("maps a streaming request answered with one JSON body to internal, not to a cut-off stream worth retrying", async () => {
    const { fake, backend } = await setup(flavour);
    const completion = JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/json; charset=utf-8" }, body: completion });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items).toEqual([]);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" sent a malformed response`]);
    expect(String(error.cause)).toContain("answered a streaming request with application/json; charset=utf-8, not text/event-stream");
  });

  it("fails a stream whose tool calls grow past the response limit, after passing on what came before", async () => {
    const fake = await createOpenAiFake({ flavour });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: flavour, baseUrl: fake.url, maxResponseBytes: 200 });
    const chunk = (delta: object) => `data: ${JSON.stringify({ choices: [{ index: 0, delta }] })}\n\n`;
    const fragment = chunk({ tool_calls: [{ index: 0, function: { arguments: "x".repeat(40) } }] });
    const opening = chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: "" } }] });
    // Every line is far below the limit; the arguments held for the call are not: "c1" + "f" + 4 × 40 = 163, then 203.
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: opening + fragment.repeat(6) + "data: [DONE]\n\n" });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items.map((item) => (item.kind === "tool-call-delta" ? item.argumentsFragment.length : item.kind))).toEqual([0, 40, 40, 40, 40]);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, `backend "${flavour}" sent a malformed response`]);
    expect(String(error.cause)).toContain("the answer's tool calls are longer than 200 characters (limits.maxBackendResponseBytes)");
  });

  it("treats a stream that ends without a finish reason as cut off", async () => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({
      kind: "raw",
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: 'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n',
    });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call(fake))).result);
    expect(items).toEqual([{ kind: "content", text: "ok" }]);
    expect(error.code).toBe(Code.Unavailable);
  });
});

describe("OpenAI-compatible backend: recognised error bodies", () => {
  it.each([
    [404, "model 'qwen' not found", Code.NotFound, 'backend "b" does not have the requested model'],
    [404, "The model `qwen` does not exist.", Code.NotFound, 'backend "b" does not have the requested model'],
    [400, 'model "qwen" not found, try pulling it first', Code.NotFound, 'backend "b" does not have the requested model'],
    [400, "Qwen/Qwen3-0.6B is not a multimodal model", Code.InvalidArgument, 'backend "b" rejected the request (HTTP 400)'],
    [400, "the request exceeds the available context size, try increasing it", Code.InvalidArgument, 'backend "b": the request exceeds the model\'s context'],
    [503, "Loading model", Code.Unavailable, 'backend "b" is still loading the model'],
  ])("maps HTTP %i %j", async (status, message, code, ourMessage) => {
    const fake = await createOpenAiFake({ flavour: "vllm" });
    fakes.push(fake);
    const backend = createOpenAiBackend({ id: "b", baseUrl: fake.url });
    fake.enqueue({ kind: "http-error", status, body: JSON.stringify({ error: { message, type: "error", param: null, code: status } }) });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(fake)));
    expect([error.code, error.rawMessage]).toEqual([code, ourMessage]);
  });
});

describe("OpenAI-compatible backend: refused connections and cancellation", () => {
  it("maps a refused connection to unavailable", async () => {
    const backend = createOpenAiBackend({ id: "down", baseUrl: await refusedUrl() });
    const error = await connectErrorOf(backend.chatStream(chatRequest(), { backendModel: "m", signal: new AbortController().signal }));
    expect([error.code, error.rawMessage]).toEqual([Code.Unavailable, 'backend "down" is unreachable (connection refused)']);
    expect(backendErrorDetails(error)).toEqual([{ backend: "down", httpStatus: 0, retryable: true, retryAfterMs: 0 }]);
  });

  it.each(flavours)("stops the upstream generation when the signal aborts mid-stream (%s)", async (flavour) => {
    const { fake, backend } = await setup(flavour);
    fake.enqueue({ kind: "hang", afterChunks: 2 });
    const controller = new AbortController();
    const { result } = await backend.chatStream(chatRequest(), call(fake, controller.signal));
    const iterator = result[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: { kind: "content", text: "Hell" } });
    const next = iterator.next();
    controller.abort();
    const error = await connectErrorOf(next);
    expect(error.code).toBe(Code.Canceled);
    await fake.waitForAbort();
    expect(fake.abortedRequests).toBe(1);
  });

  it("stops a non-streamed call that has no answer yet when the signal aborts", async () => {
    const { fake, backend } = await setup("llamacpp");
    fake.enqueue({ kind: "hang" });
    const controller = new AbortController();
    const pending = connectErrorOf(backend.chat(chatRequest(), call(fake, controller.signal)));
    await fake.waitForRequest(0);
    controller.abort();
    expect((await pending).code).toBe(Code.Canceled);
    await fake.waitForAbort();
  });

  it("maps an AbortSignal.timeout to deadline_exceeded", async () => {
    const { fake, backend } = await setup("vllm");
    fake.enqueue({ kind: "hang", afterChunks: 1 });
    // Wherever the timeout fires (before the headers on a slow machine, or mid-stream), the outcome is the same.
    const outcome = backend.chatStream(chatRequest(), call(fake, AbortSignal.timeout(200))).then(({ result }) => collect(result));
    const error = await connectErrorOf(outcome);
    expect([error.code, error.rawMessage]).toEqual([Code.DeadlineExceeded, 'backend "vllm" did not answer within its timeout']);
    await fake.waitForAbort();
  });
});
