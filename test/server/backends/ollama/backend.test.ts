import { Code } from "@connectrpc/connect";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { Role, ToolChoiceMode, WarningCode } from "../../../../gen/protogate/v1/chat_pb.js";
import { ModelState } from "../../../../gen/protogate/v1/model_service_pb.js";
import type { Backend, BackendCallOptions } from "../../../../server/backends/backend.js";
import { createOllamaBackend } from "../../../../server/backends/ollama/backend.js";
import { collect, collectUntilError, connectErrorOf } from "../../../helpers/async-outcomes.js";
import { backendErrorDetails } from "../../../helpers/backend-error-detail.js";
import { chatRequest } from "../../../helpers/chat-request.js";
import { createOllamaFake, type OllamaFake, type OllamaFakeOptions, splitFragments } from "../../../helpers/fake-upstream/index.js";
import { refusedUrl } from "../../../helpers/refused-url.js";
import { ORDER_AND_PRECISION_ARGUMENTS, SPACED_SCHEMA, TRICKY_ARGUMENTS } from "../../../helpers/tricky-json.js";

const fakes: OllamaFake[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

async function setup(options?: OllamaFakeOptions): Promise<{ fake: OllamaFake; backend: Backend }> {
  const fake = await createOllamaFake(options);
  fakes.push(fake);
  return { fake, backend: createOllamaBackend({ id: "ollama", baseUrl: fake.url }) };
}

function call(signal = new AbortController().signal): BackendCallOptions {
  return { backendModel: "llama3.2:1b", signal };
}

/** The body of the last /api/chat request the fake received. */
function lastChatBody(fake: OllamaFake): { text: string; json: Record<string, unknown> } {
  const request = fake.requests.filter((recorded) => recorded.path === "/api/chat").at(-1);
  if (request === undefined) throw new Error("the fake received no chat request");
  return { text: request.bodyText, json: request.body as Record<string, unknown> };
}

/** Ollama's fake reports 1.25 ms per prompt token and 8 ms per generated one, in nanoseconds. */
function timings(prompt: number, completion: number) {
  return { promptMs: prompt * 1.25, generationMs: completion * 8 };
}

describe("Ollama backend: discovery", () => {
  it("lists models from /api/tags with states from /api/ps and capabilities and context from /api/show", async () => {
    const { backend } = await setup({
      models: [
        { name: "qwen3:0.6b", capabilities: ["completion", "tools", "thinking"], contextLength: 40960, loaded: true },
        { name: "llama3.2:1b" },
        { name: "llava:7b", capabilities: ["completion", "vision"], contextLength: 4096 },
        { name: "nomic-embed-text:latest", capabilities: ["embedding"], contextLength: 2048 },
      ],
    });
    const capabilities = (tools: boolean, structuredOutput: boolean, vision: boolean, reasoning: boolean, embeddings: boolean) => ({
      tools,
      structuredOutput,
      vision,
      reasoning,
      embeddings,
    });
    const model = (name: string, state: ModelState, caps: ReturnType<typeof capabilities>, contextLength: number) => ({
      name,
      state,
      capabilities: caps,
      contextLength,
      sizeBytes: 1321098329n,
    });
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "reachable",
      ready: true,
      models: [
        model("qwen3:0.6b", ModelState.LOADED, capabilities(true, true, false, true, false), 40960),
        model("llama3.2:1b", ModelState.AVAILABLE, capabilities(true, true, false, false, false), 131072),
        model("llava:7b", ModelState.AVAILABLE, capabilities(false, true, true, false, false), 4096),
        model("nomic-embed-text:latest", ModelState.AVAILABLE, capabilities(false, false, false, false, true), 2048),
      ],
      detail: "4 model(s), 1 loaded",
    });
  });

  it("follows load state changes and asks /api/show only once per model", async () => {
    const { fake, backend } = await setup();
    const signal = new AbortController().signal;
    const states = async () => {
      const discovery = await backend.discover(signal);
      return discovery.kind === "reachable" ? discovery.models.map((model) => model.state) : [];
    };
    expect(await states()).toEqual([ModelState.AVAILABLE]);
    fake.setLoaded("llama3.2:1b", true);
    expect(await states()).toEqual([ModelState.LOADED]);
    expect(fake.requests.filter((request) => request.path === "/api/show").map((request) => request.body)).toEqual([
      { model: "llama3.2:1b" },
    ]);
  });

  it("reports a refused connection as unreachable", async () => {
    const backend = createOllamaBackend({ id: "ollama", baseUrl: await refusedUrl() });
    expect(await backend.discover(new AbortController().signal)).toEqual({
      kind: "unreachable",
      detail: 'backend "ollama" is unreachable (connection refused)',
    });
  });
});

describe("Ollama backend: answers", () => {
  it.each([
    ["order and precision", ORDER_AND_PRECISION_ARGUMENTS],
    ["unicode and escapes", TRICKY_ARGUMENTS],
    // Spaces and tabs only: a newline would end the NDJSON line.
    ["spacing", '{ "a" : [ 1 , 2.50 ] ,\t"b" : { } }'],
  ])("streams whole tool calls with the raw argument text (%s)", async (_name, argumentsText) => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "reply", toolCalls: [{ id: "call_1", name: "lookup", argumentsText }], usage: { prompt: 6, completion: 2 } });
    const { warnings, result } = await backend.chatStream(chatRequest(), call());
    expect(warnings).toEqual([]);
    expect(await collect(result)).toEqual([
      { kind: "tool-call", call: { id: "call_1", name: "lookup", arguments: argumentsText } },
      { kind: "finish", rawFinishReason: "stop", usage: { promptTokens: 6, completionTokens: 2 }, timings: timings(6, 2) },
    ]);
  });

  it("returns every call of a whole answer with its own raw arguments, and a missing id as undefined", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({
      kind: "reply",
      content: "Two calls.",
      reasoning: "Both are needed.",
      toolCalls: [
        { name: "first", argumentsText: TRICKY_ARGUMENTS },
        { id: "call_2", name: "second", argumentsText: ORDER_AND_PRECISION_ARGUMENTS },
      ],
      usage: { prompt: 7, completion: 3 },
    });
    const { result } = await backend.chat(chatRequest(), call());
    expect(result).toEqual({
      content: "Two calls.",
      reasoning: "Both are needed.",
      toolCalls: [
        { id: undefined, name: "first", arguments: TRICKY_ARGUMENTS },
        { id: "call_2", name: "second", arguments: ORDER_AND_PRECISION_ARGUMENTS },
      ],
      rawFinishReason: "stop",
      usage: { promptTokens: 7, completionTokens: 3 },
      timings: timings(7, 3),
    });
  });

  it("streams message.thinking as reasoning and content as content, then the finish with done_reason", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "reply", reasoning: "Hmm <&> é", content: "Hé 🦙 ok", finishReason: "length", usage: { prompt: 2, completion: 5 } });
    const events = await collect((await backend.chatStream(chatRequest(), call())).result);
    expect(events).toEqual([
      ...splitFragments("Hmm <&> é", 4).map((text) => ({ kind: "reasoning", text })),
      ...splitFragments("Hé 🦙 ok", 4).map((text) => ({ kind: "content", text })),
      { kind: "finish", rawFinishReason: "length", usage: { promptTokens: 2, completionTokens: 5 }, timings: timings(2, 5) },
    ]);
  });
});

describe("Ollama backend: the request body", () => {
  it("maps a full request: raw arguments and schemas, tool names, options, keep_alive and think", async () => {
    const { fake, backend } = await setup();
    const responseSchema = '{"type":"object",  "properties":{"b":{},"a":{}}}';
    const request = chatRequest({
      messages: [
        { role: Role.SYSTEM, content: "sys" },
        { role: Role.DEVELOPER, content: "dev" },
        { role: Role.USER, content: "Weather?" },
        {
          role: Role.ASSISTANT,
          reasoning: "thought",
          toolCalls: [
            { id: "call_1", name: "lookup", arguments: TRICKY_ARGUMENTS },
            { id: "call_2", name: "noop", arguments: "" },
          ],
        },
        { role: Role.TOOL, toolCallId: "call_1", content: "sunny" },
        { role: Role.TOOL, toolCallId: "call_2", name: "explicit", content: "ok" },
        { role: Role.TOOL, toolCallId: "call_9", content: "?" },
      ],
      tools: [{ name: "lookup", description: "Looks things up.", parametersJson: SPACED_SCHEMA, strict: true }, { name: "noop" }],
      toolChoice: { choice: { case: "mode", value: ToolChoiceMode.REQUIRED } },
      parallelToolCalls: true,
      responseFormat: { format: { case: "jsonSchema", value: { name: "answer", schemaJson: responseSchema } } },
      sampling: {
        temperature: 0.2,
        topP: 0.8,
        topK: 20,
        minP: 0.1,
        maxTokens: 64,
        seed: 9007199254740993n,
        stop: ["\n\n"],
        presencePenalty: 0.25,
        frequencyPenalty: 0.5,
        repeatPenalty: 1.15,
      },
      reasoning: true,
      backendOptions: { ollama: { num_ctx: 8192, keep_alive: "10m", use_mmap: false }, openai: { cache_prompt: true } },
    });
    const { warnings } = await backend.chat(request, call());
    expect(warnings.map((warning) => [warning.code, warning.field])).toEqual([
      [WarningCode.ROLE_MAPPED, "messages[1].role"],
      [WarningCode.PARAMETER_IGNORED, "tool_choice"],
      [WarningCode.PARAMETER_IGNORED, "parallel_tool_calls"],
      [WarningCode.PARAMETER_IGNORED, "tools[0].strict"],
      [WarningCode.PARAMETER_IGNORED, "backend_options.openai"],
    ]);
    const { text, json } = lastChatBody(fake);
    expect(text).toContain(`"arguments":${TRICKY_ARGUMENTS}}`);
    expect(text).toContain(`"parameters":${SPACED_SCHEMA}}`);
    expect(text).toContain(`"format":${responseSchema},`);
    expect(text).toContain('"seed":9007199254740993,');
    expect(json).toEqual({
      model: "llama3.2:1b",
      messages: [
        { role: "system", content: "sys" },
        { role: "system", content: "dev" },
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: "",
          thinking: "thought",
          tool_calls: [
            { id: "call_1", function: { name: "lookup", arguments: JSON.parse(TRICKY_ARGUMENTS) } },
            { id: "call_2", function: { name: "noop", arguments: {} } },
          ],
        },
        { role: "tool", content: "sunny", tool_name: "lookup" },
        { role: "tool", content: "ok", tool_name: "explicit" },
        { role: "tool", content: "?" },
      ],
      stream: false,
      tools: [
        { type: "function", function: { name: "lookup", description: "Looks things up.", parameters: JSON.parse(SPACED_SCHEMA) } },
        { type: "function", function: { name: "noop", parameters: { type: "object", properties: {} } } },
      ],
      format: JSON.parse(responseSchema),
      options: {
        temperature: 0.2,
        top_p: 0.8,
        top_k: 20,
        min_p: 0.1,
        num_predict: 64,
        seed: 9007199254740993,
        stop: ["\n\n"],
        presence_penalty: 0.25,
        frequency_penalty: 0.5,
        repeat_penalty: 1.15,
        num_ctx: 8192,
        use_mmap: false,
      },
      keep_alive: "10m",
      think: true,
    });
  });

  it("streams by default, asks for JSON with format json, and leaves tools out when the choice is none", async () => {
    const { fake, backend } = await setup();
    const request = chatRequest({
      tools: [{ name: "f", parametersJson: "{}" }],
      toolChoice: { choice: { case: "mode", value: ToolChoiceMode.NONE } },
      responseFormat: { format: { case: "jsonObject", value: {} } },
      backendOptions: { ollama: { keep_alive: 0 } },
      reasoning: false,
    });
    const { warnings, result } = await backend.chatStream(request, call());
    await collect(result);
    expect(warnings).toEqual([]);
    expect(lastChatBody(fake).json).toEqual({
      model: "llama3.2:1b",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      format: "json",
      keep_alive: 0,
      think: false,
    });
  });

  it("warns that a named tool choice cannot be forced", async () => {
    const { backend } = await setup();
    const request = chatRequest({ tools: [{ name: "f" }], toolChoice: { choice: { case: "function", value: "f" } } });
    const { warnings } = await backend.chat(request, call());
    expect(warnings).toEqual([
      { code: WarningCode.PARAMETER_IGNORED, message: "Ollama cannot force a tool call; the model decides", field: "tool_choice" },
    ]);
  });

  it.each([
    ["[1,2]", "Ollama backends need tool-call arguments that are a JSON object"],
    ['"text"', "Ollama backends need tool-call arguments that are a JSON object"],
    ['{"a":', "Ollama backends need tool-call arguments that are a JSON object; this text is not JSON"],
  ])("rejects earlier arguments %s with invalid_argument before calling upstream", async (argumentsText, message) => {
    const { fake, backend } = await setup();
    const request = chatRequest({
      messages: [
        { role: Role.USER, content: "x" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "c", name: "f", arguments: argumentsText }] },
      ],
    });
    const error = await connectErrorOf(backend.chat(request, call()));
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, `messages[1].tool_calls[0].arguments: ${message}`]);
    const violation = error.findDetails(ViolationsSchema)[0]?.violations[0];
    expect(violation?.ruleId).toBe("backend.unsupported");
    expect(fake.requests).toEqual([]);
  });

  it("rejects an unknown ollama option with invalid_argument naming the allowed keys", async () => {
    const { fake, backend } = await setup();
    const error = await connectErrorOf(backend.chatStream(chatRequest({ backendOptions: { ollama: { num_gpus: 1 } } }), call()));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^backend_options\.ollama\.num_gpus: unknown option "num_gpus"; allowed: .*keep_alive, main_gpu,.*num_gpu,/);
    expect(fake.requests).toEqual([]);
  });
});

describe("Ollama backend: failures and cancellation", () => {
  it("maps an {error} line in a 200 stream to internal without the upstream text", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "midstream-error", afterChunks: 2, message: "SECRET llama runner process has terminated" });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call())).result);
    expect(items).toEqual([
      { kind: "content", text: "Hell" },
      { kind: "content", text: "o fr" },
    ]);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, 'backend "ollama" reported an error during generation']);
    expect(backendErrorDetails(error)).toEqual([{ backend: "ollama", httpStatus: 200, retryable: false, retryAfterMs: 0 }]);
    expect(String(error.cause)).toContain("SECRET llama runner");
  });

  it("maps a dropped stream to unavailable", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "drop", afterChunks: 1 });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call())).result);
    expect(items).toEqual([{ kind: "content", text: "Hell" }]);
    expect([error.code, error.rawMessage]).toEqual([
      Code.Unavailable,
      'backend "ollama" closed the connection before the answer was complete',
    ]);
  });

  it("treats a stream that ends without done: true as cut off", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/x-ndjson" }, body: '{"message":{"content":"a"},"done":false}\n' });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call())).result);
    expect(items).toEqual([{ kind: "content", text: "a" }]);
    expect(error.code).toBe(Code.Unavailable);
  });

  it("fails a stream whose tool calls grow past the response limit, after passing on what came before", async () => {
    const fake = await createOllamaFake();
    fakes.push(fake);
    const backend = createOllamaBackend({ id: "ollama", baseUrl: fake.url, maxResponseBytes: 200 });
    // Each line carries one whole call: name "f" and 38 characters of arguments, 39 in all; the sixth passes 200.
    const line = JSON.stringify({ message: { role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: { a: "y".repeat(30) } } }] }, done: false });
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/x-ndjson" }, body: `${line}\n`.repeat(6) + '{"done":true,"done_reason":"stop"}\n' });
    const { items, error } = await collectUntilError((await backend.chatStream(chatRequest(), call())).result);
    expect(items.map((item) => (item.kind === "tool-call" ? item.call.arguments : item.kind))).toEqual(Array(5).fill(`{"a":"${"y".repeat(30)}"}`));
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, 'backend "ollama" sent a malformed response']);
    expect(String(error.cause)).toContain("the answer's tool calls are longer than 200 characters (limits.maxBackendResponseBytes)");
  });

  it("maps a malformed line to internal", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/x-ndjson" }, body: "{SECRET\n" });
    const { error } = await collectUntilError((await backend.chatStream(chatRequest(), call())).result);
    expect([error.code, error.rawMessage]).toEqual([Code.Internal, 'backend "ollama" sent a malformed response']);
  });

  it("maps an unknown model (404) to not_found", async () => {
    const { backend } = await setup();
    const error = await connectErrorOf(backend.chat(chatRequest(), { ...call(), backendModel: "missing:7b" }));
    expect([error.code, error.rawMessage]).toEqual([Code.NotFound, 'backend "ollama" does not have the requested model']);
    expect(backendErrorDetails(error)).toEqual([{ backend: "ollama", httpStatus: 404, retryable: false, retryAfterMs: 0 }]);
    expect(error.message).not.toContain("pulling");
  });

  it.each([
    [400, "registry.ollama.ai/library/gemma:2b does not support tools", Code.FailedPrecondition],
    [500, "model requires more system memory (5.2 GiB) than is available (1.1 GiB)", Code.ResourceExhausted],
    [503, "server busy, please try again.  maximum pending requests exceeded", Code.Unavailable],
  ])("maps HTTP %i with Ollama's message to its code", async (status, message, code) => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "http-error", status, body: JSON.stringify({ error: message }) });
    const error = await connectErrorOf(backend.chatStream(chatRequest(), call()));
    expect(error.code).toBe(code);
    expect(error.message).not.toContain(message);
  });

  it("maps a refused connection to unavailable", async () => {
    const backend = createOllamaBackend({ id: "ollama", baseUrl: await refusedUrl() });
    const error = await connectErrorOf(backend.chat(chatRequest(), call()));
    expect([error.code, error.rawMessage]).toEqual([Code.Unavailable, 'backend "ollama" is unreachable (connection refused)']);
  });

  it("stops the upstream generation when the signal aborts mid-stream", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "hang", afterChunks: 1 });
    const controller = new AbortController();
    const { result } = await backend.chatStream(chatRequest(), call(controller.signal));
    const iterator = result[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: { kind: "content", text: "Hell" } });
    const next = iterator.next();
    controller.abort();
    expect((await connectErrorOf(next)).code).toBe(Code.Canceled);
    await fake.waitForAbort();
    expect(fake.abortedRequests).toBe(1);
  });

  it("maps an AbortSignal.timeout to deadline_exceeded and stops the upstream call", async () => {
    const { fake, backend } = await setup();
    fake.enqueue({ kind: "hang" });
    const error = await connectErrorOf(backend.chat(chatRequest(), call(AbortSignal.timeout(200))));
    expect(error.code).toBe(Code.DeadlineExceeded);
    await fake.waitForAbort();
  });
});
