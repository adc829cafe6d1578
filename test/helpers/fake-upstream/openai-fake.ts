/**
 * A wire-exact stand-in for an OpenAI-compatible local server: llama.cpp's `llama-server` or
 * vLLM's `vllm serve`. Field order, SSE framing, headers and error bodies follow the servers'
 * own serialisers (llama.cpp: nlohmann ordered_json via `format_oai_sse`; vLLM: pydantic
 * `model_dump_json(exclude_unset=True)` and FastAPI's JSONResponse).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { fakeSurface, isJsonObject, playChatScript, sendBody, startFakeServer } from "./fake-server.js";
import type { FakeExchange, FakeServer } from "./fake-server.js";
import { DEFAULT_REPLY, fragmentReply } from "./recorded-request.js";
import type { FakeToolCall, FakeUpstreamBase, FragmentedReply, ReplyScript } from "./recorded-request.js";

/** Which OpenAI-compatible server the fake imitates. */
export type OpenAiFlavour = "llamacpp" | "vllm";

/** Options for {@link createOpenAiFake}. */
export interface OpenAiFakeOptions {
  /** The server to imitate. */
  flavour: OpenAiFlavour;
  /**
   * Served model names. Default: one model (`"Llama-3.2-1B-Instruct-Q4_K_M.gguf"` for llama.cpp,
   * `"Qwen/Qwen3-0.6B"` for vLLM). vLLM answers 404 to a chat naming another model; llama.cpp,
   * like the real single-model server, accepts any name and echoes it.
   */
  models?: string[];
  /** Context length reported by `/v1/models` and `/props`. Default 4096. */
  contextLength?: number;
}

/** A running fake llama.cpp or vLLM server. */
export interface OpenAiFake extends FakeUpstreamBase {
  /** The server being imitated. */
  readonly flavour: OpenAiFlavour;
  /** Served model names. */
  readonly models: readonly string[];
  /**
   * While `true`, behave like a server that is not ready. llama.cpp: every route answers 503
   * `{"error":{"message":"Loading model","type":"unavailable_error","code":503}}`. vLLM:
   * `/health` answers 503 with an empty body and chat answers 503 (vLLM itself refuses
   * connections while loading; the chat body is the fake's own, in vLLM's error shape).
   */
  setLoading(loading: boolean): void;
}

/** The `system_fingerprint` (llama.cpp's `build_info`) the llama.cpp fake reports. */
export const LLAMACPP_BUILD_INFO = "b6700-3df2244d";

/** The version the vLLM fake reports on `/version`. */
export const VLLM_VERSION = "0.10.1.1";

/**
 * Start a fake llama.cpp or vLLM server on 127.0.0.1, port 0. Routes: `POST /v1/chat/completions`,
 * `GET /v1/models`, `GET /health`; llama.cpp also `GET /props` and the aliases `/models` and
 * `/v1/health`; vLLM also `GET /version`. Other routes get the server's own 404.
 *
 * @example
 * const fake = await createOpenAiFake({ flavour: "llamacpp" });
 * fake.enqueue({ kind: "reply", toolCalls: [{ id: "c1", name: "f", argumentsText: '{"a":1}' }] });
 * // …point the adapter at fake.url…
 * await fake.close();
 */
export async function createOpenAiFake(options: OpenAiFakeOptions): Promise<OpenAiFake> {
  const flavour = options.flavour;
  const models: readonly string[] = [...(options.models ?? [defaultModel(flavour)])];
  const contextLength = options.contextLength ?? 4096;
  let loading = false;

  const server = await startFakeServer((exchange) => {
    const wire = flavour === "llamacpp" ? llamaCppWire(exchange) : vllmWire();
    const { pathname, request, res } = exchange;
    const route = `${request.method} ${pathname}`;
    if (flavour === "llamacpp" && loading) {
      // llama.cpp's pre-routing middleware answers every route this way while loading.
      sendBody(res, 503, wire.jsonHeaders, LLAMACPP_LOADING_BODY);
      return;
    }
    switch (route) {
      case "POST /v1/chat/completions":
      case "POST /chat/completions":
        return answerChat(exchange, server, wire, { models, loading });
      case "GET /v1/models":
        return sendBody(res, 200, wire.jsonHeaders, modelList(flavour, models, contextLength));
      case "GET /health":
        if (flavour === "vllm") {
          return sendBody(res, loading ? 503 : 200, { server: "uvicorn" }, "");
        }
        return sendBody(res, 200, wire.jsonHeaders, '{"status":"ok"}');
      default:
        break;
    }
    if (flavour === "llamacpp") {
      switch (route) {
        case "GET /models":
          return sendBody(res, 200, wire.jsonHeaders, modelList(flavour, models, contextLength));
        case "GET /v1/health":
          return sendBody(res, 200, wire.jsonHeaders, '{"status":"ok"}');
        case "GET /props":
          return sendBody(res, 200, wire.jsonHeaders, llamaCppProps(models, contextLength));
        default:
          return sendBody(res, 404, wire.jsonHeaders, LLAMACPP_NOT_FOUND_BODY);
      }
    }
    if (route === "GET /version") {
      return sendBody(res, 200, wire.jsonHeaders, JSON.stringify({ version: VLLM_VERSION }));
    }
    return sendBody(res, 404, wire.jsonHeaders, '{"detail":"Not Found"}');
  });

  return fakeSurface(server, {
    flavour,
    models,
    setLoading(value: boolean) {
      loading = value;
    },
  });
}

/**
 * A tool-call id in the backend's own format: llama.cpp's 32 random alphanumerics, vLLM's
 * `chatcmpl-tool-<32 hex>`. Scripts must set ids explicitly; this makes realistic ones.
 */
export function generateToolCallId(flavour: OpenAiFlavour): string {
  return flavour === "llamacpp" ? randomAlphanumeric(32) : `chatcmpl-tool-${randomHex()}`;
}

/** llama.cpp's body for every route while the model loads (middleware key order: message, type, code). */
const LLAMACPP_LOADING_BODY = '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}';

/** llama.cpp's body for an unknown route. */
const LLAMACPP_NOT_FOUND_BODY = '{"error":{"message":"File Not Found","type":"not_found_error","code":404}}';

/** The per-flavour wire details one response needs. */
interface Wire {
  readonly flavour: OpenAiFlavour;
  readonly jsonHeaders: Record<string, string>;
  readonly sseHeaders: Record<string, string>;
}

/** What one chat request decided about its answer. */
interface ChatContext {
  readonly wire: Wire;
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly includeUsage: boolean;
}

/** The fake's state a chat request reads. */
interface ChatState {
  readonly models: readonly string[];
  readonly loading: boolean;
}

function llamaCppWire(exchange: FakeExchange): Wire {
  const origin = exchange.request.headers["origin"];
  const common = {
    Server: "llama.cpp",
    "Access-Control-Allow-Origin": typeof origin === "string" ? origin : "",
  };
  return {
    flavour: "llamacpp",
    jsonHeaders: { ...common, "Content-Type": "application/json; charset=utf-8" },
    sseHeaders: { ...common, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no" },
  };
}

function vllmWire(): Wire {
  return {
    flavour: "vllm",
    jsonHeaders: { server: "uvicorn", "content-type": "application/json" },
    sseHeaders: { server: "uvicorn", "content-type": "text/event-stream; charset=utf-8" },
  };
}

async function answerChat(
  exchange: FakeExchange,
  server: FakeServer,
  wire: Wire,
  state: ChatState,
): Promise<void> {
  const { request, res } = exchange;
  const watch = server.watchChat(res);
  if (state.loading) {
    sendBody(res, 503, wire.jsonHeaders, errorBody(wire.flavour, 503, "Service Unavailable"));
    return;
  }
  const body = request.body;
  if (!isJsonObject(body)) {
    sendBody(res, 400, wire.jsonHeaders, errorBody(wire.flavour, 400, "Invalid JSON body"));
    return;
  }
  const requestedModel = typeof body["model"] === "string" ? body["model"] : undefined;
  if (wire.flavour === "vllm" && requestedModel !== undefined && !state.models.includes(requestedModel)) {
    sendBody(res, 404, wire.jsonHeaders, errorBody("vllm", 404, `The model \`${requestedModel}\` does not exist.`));
    return;
  }
  const stream = body["stream"] === true;
  const streamOptions = body["stream_options"];
  const ctx: ChatContext = {
    wire,
    id: wire.flavour === "llamacpp" ? `chatcmpl-${randomAlphanumeric(32)}` : `chatcmpl-${randomHex()}`,
    created: Math.floor(Date.now() / 1000),
    model: requestedModel ?? state.models[0] ?? "",
    includeUsage: stream && isJsonObject(streamOptions) && streamOptions["include_usage"] === true,
  };
  await playChatScript(res, watch, server.nextScript() ?? DEFAULT_REPLY, {
    stream,
    jsonHeaders: wire.jsonHeaders,
    streamHeaders: wire.sseHeaders,
    replyBody: (reply) => completionBody(ctx, reply),
    replyChunks: (reply) => streamEvents(ctx, reply),
    replyEnd: () => "data: [DONE]\n\n",
    errorBody: (status, message = defaultErrorMessage(wire.flavour, status, ctx.model)) =>
      errorBody(wire.flavour, status, message),
    midstreamError: (message) => midstreamErrorEvent(wire.flavour, message),
  });
}

/** The delta sequence of a reply, independent of the flavour's chunk envelope. */
interface ReplyPlan extends FragmentedReply {
  readonly reasoningField: "reasoning_content" | "reasoning";
  readonly finishReason: string;
  readonly completionTokens: number;
}

function planReply(reply: ReplyScript): ReplyPlan {
  const fragments = fragmentReply(reply);
  const fragmentCount =
    fragments.reasoning.length +
    fragments.content.length +
    fragments.toolCalls.reduce((sum, planned) => sum + planned.fragments.length, 0);
  return {
    ...fragments,
    reasoningField: reply.reasoningField ?? "reasoning_content",
    finishReason: reply.finishReason ?? (fragments.toolCalls.length > 0 ? "tool_calls" : "stop"),
    completionTokens: reply.usage?.completion ?? Math.max(1, fragmentCount),
  };
}

/** Every `data: …\n\n` event of a streamed reply, without the final `data: [DONE]`. */
function streamEvents(ctx: ChatContext, reply: ReplyScript): string[] {
  const plan = planReply(reply);
  const llama = ctx.wire.flavour === "llamacpp";
  const deltas: Array<Record<string, unknown>> = [];
  deltas.push(llama ? { role: "assistant", content: null } : { role: "assistant", content: "" });
  for (const fragment of plan.reasoning) {
    deltas.push({ [plan.reasoningField]: fragment });
  }
  for (const fragment of plan.content) {
    deltas.push({ content: fragment });
  }
  for (const { call, index, fragments } of plan.toolCalls) {
    deltas.push({ tool_calls: [llama ? llamaCppToolHeader(call, index) : vllmToolHeader(call, index)] });
    for (const fragment of fragments) {
      deltas.push({ tool_calls: [{ index, function: { arguments: fragment } }] });
    }
  }
  const chunks = deltas.map((delta) => chunk(ctx, delta, null));
  // vLLM's finishing chunk carries the last (empty) text delta; llama.cpp's an empty delta.
  const finishDelta = llama || plan.toolCalls.length > 0 ? {} : { content: "" };
  chunks.push(chunk(ctx, finishDelta, plan.finishReason));
  if (ctx.includeUsage) {
    chunks.push(usageChunk(ctx, plan));
  }
  if (llama) {
    const last = chunks[chunks.length - 1];
    if (last !== undefined) {
      last["timings"] = llamaCppTimings(plan);
    }
  }
  return chunks.map((value) => `data: ${JSON.stringify(value)}\n\n`);
}

function llamaCppToolHeader(call: FakeToolCall, index: number): Record<string, unknown> {
  // llama.cpp writes `id` and `type` only when the call has an id.
  const header: Record<string, unknown> = { index };
  if (call.id !== undefined) {
    header["id"] = call.id;
    header["type"] = "function";
  }
  header["function"] = { name: call.name, arguments: "" };
  return header;
}

function vllmToolHeader(call: FakeToolCall, index: number): Record<string, unknown> {
  // pydantic field order (id, type, index, function); the name chunk carries no arguments.
  const header: Record<string, unknown> = {};
  if (call.id !== undefined) {
    header["id"] = call.id;
  }
  header["type"] = "function";
  header["index"] = index;
  header["function"] = { name: call.name };
  return header;
}

function chunk(ctx: ChatContext, delta: Record<string, unknown>, finishReason: string | null): Record<string, unknown> {
  if (ctx.wire.flavour === "llamacpp") {
    return {
      choices: [{ finish_reason: finishReason, index: 0, delta }],
      created: ctx.created,
      id: ctx.id,
      model: ctx.model,
      system_fingerprint: LLAMACPP_BUILD_INFO,
      object: "chat.completion.chunk",
    };
  }
  const choice: Record<string, unknown> = { index: 0, delta, logprobs: null, finish_reason: finishReason };
  if (finishReason !== null) {
    choice["stop_reason"] = null;
  }
  return { id: ctx.id, object: "chat.completion.chunk", created: ctx.created, model: ctx.model, choices: [choice] };
}

function usageChunk(ctx: ChatContext, plan: ReplyPlan): Record<string, unknown> {
  const total = plan.promptTokens + plan.completionTokens;
  if (ctx.wire.flavour === "llamacpp") {
    return {
      choices: [],
      created: ctx.created,
      id: ctx.id,
      model: ctx.model,
      system_fingerprint: LLAMACPP_BUILD_INFO,
      object: "chat.completion.chunk",
      usage: { completion_tokens: plan.completionTokens, prompt_tokens: plan.promptTokens, total_tokens: total },
    };
  }
  return {
    id: ctx.id,
    object: "chat.completion.chunk",
    created: ctx.created,
    model: ctx.model,
    choices: [],
    usage: { prompt_tokens: plan.promptTokens, total_tokens: total, completion_tokens: plan.completionTokens },
  };
}

/** llama.cpp's `timings` object, with deterministic numbers derived from the token counts. */
function llamaCppTimings(plan: ReplyPlan): Record<string, number> {
  const promptMs = plan.promptTokens * 1.25;
  const predictedMs = plan.completionTokens * 8;
  return {
    cache_n: 0,
    prompt_n: plan.promptTokens,
    prompt_ms: promptMs,
    prompt_per_token_ms: promptMs / Math.max(1, plan.promptTokens),
    prompt_per_second: (1000 * plan.promptTokens) / Math.max(promptMs, 1e-9),
    predicted_n: plan.completionTokens,
    predicted_ms: predictedMs,
    predicted_per_token_ms: predictedMs / Math.max(1, plan.completionTokens),
    predicted_per_second: (1000 * plan.completionTokens) / Math.max(predictedMs, 1e-9),
  };
}

/** The non-streaming `chat.completion` body. */
function completionBody(ctx: ChatContext, reply: ReplyScript): string {
  const plan = planReply(reply);
  const reasoning = plan.reasoning.join("");
  const content = plan.content.join("");
  const calls = plan.toolCalls.map(({ call }) => call);
  const total = plan.promptTokens + plan.completionTokens;
  if (ctx.wire.flavour === "llamacpp") {
    const message: Record<string, unknown> = { role: "assistant" };
    if (reasoning.length > 0) {
      message[plan.reasoningField] = reasoning;
    }
    message["content"] = content.length === 0 && calls.length > 0 ? null : content;
    if (calls.length > 0) {
      message["tool_calls"] = calls.map((call) => {
        const wireCall: Record<string, unknown> = {
          type: "function",
          function: { name: call.name, arguments: call.argumentsText },
        };
        if (call.id !== undefined) {
          wireCall["id"] = call.id;
        }
        return wireCall;
      });
    }
    return JSON.stringify({
      choices: [{ finish_reason: plan.finishReason, index: 0, message }],
      created: ctx.created,
      model: ctx.model,
      system_fingerprint: LLAMACPP_BUILD_INFO,
      object: "chat.completion",
      usage: { completion_tokens: plan.completionTokens, prompt_tokens: plan.promptTokens, total_tokens: total },
      id: ctx.id,
      timings: llamaCppTimings(plan),
    });
  }
  const message: Record<string, unknown> = {
    role: "assistant",
    content: content.length === 0 && calls.length > 0 ? null : content,
    refusal: null,
    annotations: null,
    audio: null,
    function_call: null,
    tool_calls: calls.map((call) => {
      const wireCall: Record<string, unknown> = {};
      if (call.id !== undefined) {
        wireCall["id"] = call.id;
      }
      wireCall["type"] = "function";
      wireCall["function"] = { name: call.name, arguments: call.argumentsText };
      return wireCall;
    }),
    [plan.reasoningField]: reasoning.length > 0 ? reasoning : null,
  };
  return JSON.stringify({
    id: ctx.id,
    object: "chat.completion",
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason, stop_reason: null }],
    service_tier: null,
    system_fingerprint: null,
    usage: {
      prompt_tokens: plan.promptTokens,
      total_tokens: total,
      completion_tokens: plan.completionTokens,
      prompt_tokens_details: null,
    },
    prompt_logprobs: null,
    kv_transfer_params: null,
  });
}

/**
 * The error event a server sends when generation fails mid-stream. llama.cpp: a compact
 * `{"error":{code,message,type}}` event and the stream ends (no `[DONE]`). vLLM: Python's
 * `json.dumps` (spaced separators, ASCII-only) of `{"error": {…}}`, then `data: [DONE]`.
 */
function midstreamErrorEvent(flavour: OpenAiFlavour, message: string): string {
  if (flavour === "llamacpp") {
    return `data: ${JSON.stringify({ error: { code: 500, message, type: "server_error" } })}\n\n`;
  }
  const error = { error: { message, type: "BadRequestError", param: null, code: 400 } };
  return `data: ${pythonJsonDumps(error)}\n\ndata: [DONE]\n\n`;
}

/** An error body in the flavour's shape for an HTTP status. */
function errorBody(flavour: OpenAiFlavour, status: number, message: string): string {
  if (flavour === "llamacpp") {
    if (status === 503 && message === "Loading model") {
      return LLAMACPP_LOADING_BODY;
    }
    // format_error_response: {code, message, type} wrapped in {"error": …}
    return JSON.stringify({ error: { code: status, message, type: LLAMACPP_ERROR_TYPES[status] ?? "server_error" } });
  }
  return JSON.stringify({ error: { message, type: vllmErrorType(status), param: null, code: status } });
}

function defaultErrorMessage(flavour: OpenAiFlavour, status: number, model: string): string {
  if (flavour === "llamacpp") {
    if (status === 503) {
      return "Loading model";
    }
    if (status === 404) {
      return "File Not Found";
    }
    if (status === 401) {
      return "Invalid API Key";
    }
  } else if (status === 404) {
    return `The model \`${model}\` does not exist.`;
  }
  return STATUS_CODES[status] ?? "Error";
}

const LLAMACPP_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  500: "server_error",
  501: "not_supported_error",
  503: "unavailable_error",
};

function vllmErrorType(status: number): string {
  const known: Readonly<Record<number, string>> = {
    400: "BadRequestError",
    404: "NotFoundError",
    500: "InternalServerError",
    501: "NotImplementedError",
  };
  const fromStatus = (STATUS_CODES[status] ?? "Unknown").replace(/[^A-Za-z]/g, "");
  return known[status] ?? `${fromStatus}Error`;
}

function modelList(flavour: OpenAiFlavour, models: readonly string[], contextLength: number): string {
  const created = Math.floor(Date.now() / 1000);
  if (flavour === "llamacpp") {
    return JSON.stringify({
      models: models.map((name) => ({
        name,
        model: name,
        modified_at: "",
        size: "",
        digest: "",
        type: "model",
        description: "",
        tags: [""],
        capabilities: ["completion"],
        parameters: "",
        details: {
          parent_model: "",
          format: "gguf",
          family: "",
          families: [""],
          parameter_size: "",
          quantization_level: "",
        },
      })),
      object: "list",
      data: models.map((id) => ({
        id,
        object: "model",
        created,
        owned_by: "llamacpp",
        meta: {
          vocab_type: 2,
          n_vocab: 128256,
          n_ctx_train: contextLength,
          n_embd: 2048,
          n_params: 1235814432,
          size: 799862912,
        },
      })),
    });
  }
  return JSON.stringify({
    object: "list",
    data: models.map((id) => ({
      id,
      object: "model",
      created,
      owned_by: "vllm",
      root: id,
      parent: null,
      max_model_len: contextLength,
      permission: [
        {
          id: `modelperm-${randomHex()}`,
          object: "model_permission",
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: "*",
          group: null,
          is_blocking: false,
        },
      ],
    })),
  });
}

function llamaCppProps(models: readonly string[], contextLength: number): string {
  const alias = models[0] ?? "";
  return JSON.stringify({
    default_generation_settings: {
      id: 0,
      id_task: -1,
      n_ctx: contextLength,
      speculative: false,
      is_processing: false,
      params: { n_predict: -1, seed: 4294967295, temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, stream: true },
      prompt: "",
    },
    total_slots: 1,
    model_alias: alias,
    model_path: `/models/${alias}`,
    modalities: { vision: false, audio: false },
    chat_template:
      "{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
    bos_token: "<|begin_of_text|>",
    eos_token: "<|eot_id|>",
    build_info: LLAMACPP_BUILD_INFO,
  });
}

function defaultModel(flavour: OpenAiFlavour): string {
  return flavour === "llamacpp" ? "Llama-3.2-1B-Instruct-Q4_K_M.gguf" : "Qwen/Qwen3-0.6B";
}

/** Python's `json.dumps` with default settings: `", "`/`": "` separators, non-ASCII escaped. */
function pythonJsonDumps(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value).replace(
      /[\u0080-\uffff]/g,
      (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(pythonJsonDumps).join(", ")}]`;
  }
  if (isJsonObject(value)) {
    const members = Object.entries(value).map(([key, item]) => `${pythonJsonDumps(key)}: ${pythonJsonDumps(item)}`);
    return `{${members.join(", ")}}`;
  }
  return "null";
}

function randomAlphanumeric(length: number): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let text = "";
  for (const byte of randomBytes(length)) {
    text += alphabet.charAt(byte % alphabet.length);
  }
  return text;
}

function randomHex(): string {
  return randomUUID().replaceAll("-", "");
}
