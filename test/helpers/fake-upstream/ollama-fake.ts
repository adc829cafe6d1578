/**
 * A wire-exact stand-in for Ollama's native API (`/api/*`). Bodies are written the way Go's
 * `encoding/json` writes them: struct field order, `omitempty`, HTML-safe escaping of `<`, `>`
 * and `&`, map keys sorted, and times in RFC 3339 with trimmed nanoseconds.
 */
import { createHash } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { fakeSurface, isJsonObject, playChatScript, sendBody, startFakeServer } from "./fake-server.js";
import type { FakeExchange, FakeServer } from "./fake-server.js";
import { DEFAULT_REPLY, fragmentReply } from "./recorded-request.js";
import type { FakeToolCall, FakeUpstreamBase, FragmentedReply, ReplyScript } from "./recorded-request.js";

/** One model the fake Ollama has "on disk". */
export interface OllamaFakeModel {
  /** Full name with tag, e.g. `"qwen3:0.6b"`. A request for `"qwen3"` matches `"qwen3:latest"`. */
  name: string;
  /** `/api/show` capabilities. Default `["completion", "tools"]`. */
  capabilities?: string[];
  /** `<arch>.context_length` in `/api/show` and `context_length` in `/api/ps`. Default 131072. */
  contextLength?: number;
  /** Whether it starts loaded (listed by `/api/ps`). Default `false`. */
  loaded?: boolean;
  /** `details.family` (also the `model_info` architecture). Default: `llama` for `llama*`, `qwen2` for `qwen2.5*`, else the name before the tag. */
  family?: string;
  /** `details.parameter_size`. Default `"1.2B"`. */
  parameterSize?: string;
  /** `details.quantization_level`. Default `"Q4_K_M"`. */
  quantizationLevel?: string;
}

/** Options for {@link createOllamaFake}. */
export interface OllamaFakeOptions {
  /** Models on disk. Default: one model, `llama3.2:1b`. */
  models?: OllamaFakeModel[];
  /** Names loaded at start; when given it replaces every model's own `loaded` flag. */
  loaded?: string[];
  /** What `/api/version` reports. Default `"0.12.3"`. */
  version?: string;
}

/** A running fake Ollama server. */
export interface OllamaFake extends FakeUpstreamBase {
  /** Names of the models currently loaded (what `/api/ps` lists), in load order. */
  readonly loadedModels: readonly string[];
  /** Load or unload a model by hand, as if another client had. Unknown names are ignored. */
  setLoaded(name: string, loaded: boolean): void;
}

/** The version the fake reports unless told otherwise. */
export const OLLAMA_DEFAULT_VERSION = "0.12.3";

/**
 * Start a fake Ollama on 127.0.0.1, port 0. Routes: `GET /` ("Ollama is running"),
 * `GET /api/version`, `GET /api/tags`, `GET /api/ps`, `POST /api/show`, `POST /api/chat`.
 * A chat with empty `messages` loads the model (`done_reason: "load"`, no script consumed) and
 * with `keep_alive: 0` unloads it (`"unload"`); any other chat marks the model loaded.
 * Unknown models get Ollama's 404, unknown routes Gin's `404 page not found`.
 *
 * @example
 * const fake = await createOllamaFake({ models: [{ name: "qwen3:0.6b", capabilities: ["completion", "thinking"] }] });
 * fake.enqueue({ kind: "reply", toolCalls: [{ name: "f", argumentsText: '{"n":12345678901234567890}' }] });
 * await fake.close();
 */
export async function createOllamaFake(options: OllamaFakeOptions = {}): Promise<OllamaFake> {
  const models: readonly OllamaFakeModel[] = [...(options.models ?? [{ name: "llama3.2:1b" }])];
  const version = options.version ?? OLLAMA_DEFAULT_VERSION;
  const loaded: string[] = [];
  for (const model of models) {
    const startsLoaded = options.loaded === undefined ? model.loaded === true : options.loaded.includes(model.name);
    if (startsLoaded) {
      loaded.push(model.name);
    }
  }
  const setLoaded = (name: string, value: boolean): void => {
    const position = loaded.indexOf(name);
    if (value && position === -1 && models.some((model) => model.name === name)) {
      loaded.push(name);
    } else if (!value && position !== -1) {
      loaded.splice(position, 1);
    }
  };
  const findModel = (name: string): OllamaFakeModel | undefined =>
    models.find((model) => model.name === name || model.name === `${name}:latest`);

  const server = await startFakeServer((exchange) => {
    const { pathname, request, res } = exchange;
    switch (`${request.method} ${pathname}`) {
      case "GET /":
      case "HEAD /":
        return sendBody(res, 200, TEXT_HEADERS, "Ollama is running");
      case "GET /api/version":
        return sendBody(res, 200, JSON_HEADERS, goJson({ version }));
      case "GET /api/tags":
        return sendBody(res, 200, JSON_HEADERS, goJson({ models: models.map(listEntry) }));
      case "GET /api/ps":
        return sendBody(res, 200, JSON_HEADERS, goJson({ models: loadedEntries(models, loaded) }));
      case "POST /api/show":
        return answerShow(exchange, findModel);
      case "POST /api/chat":
        return answerChat(exchange, server, { findModel, setLoaded });
      default:
        return sendBody(res, 404, TEXT_HEADERS, "404 page not found");
    }
  });

  return fakeSurface(server, {
    get loadedModels() {
      return [...loaded];
    },
    setLoaded,
  });
}

const JSON_HEADERS: Record<string, string> = { "Content-Type": "application/json; charset=utf-8" };
const TEXT_HEADERS: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8" };
const NDJSON_HEADERS: Record<string, string> = { "Content-Type": "application/x-ndjson" };

/** Fixed, plausible nanosecond durations for the final line. */
const LOAD_DURATION_NS = 21_187_292;
const PROMPT_EVAL_NS_PER_TOKEN = 1_250_000;
const EVAL_NS_PER_TOKEN = 8_000_000;

/** What the chat handler needs from the fake's model registry. */
interface ChatRegistry {
  findModel(name: string): OllamaFakeModel | undefined;
  setLoaded(name: string, loaded: boolean): void;
}

async function answerChat(exchange: FakeExchange, server: FakeServer, registry: ChatRegistry): Promise<void> {
  const { request, res } = exchange;
  const watch = server.watchChat(res);
  const body = request.body;
  if (!isJsonObject(body)) {
    sendBody(res, 400, JSON_HEADERS, goJson({ error: "invalid character in request body" }));
    return;
  }
  const requested = typeof body["model"] === "string" ? body["model"] : "";
  if (requested === "") {
    sendBody(res, 400, JSON_HEADERS, goJson({ error: "model is required" }));
    return;
  }
  const model = registry.findModel(requested);
  if (model === undefined) {
    sendBody(res, 404, JSON_HEADERS, goJson({ error: modelNotFoundMessage(requested) }));
    return;
  }
  const messages = body["messages"];
  if (!Array.isArray(messages) || messages.length === 0) {
    const unload = isZeroKeepAlive(body["keep_alive"]);
    registry.setLoaded(model.name, !unload);
    const line = {
      model: requested,
      created_at: goTimeNow(),
      message: { role: "assistant", content: "" },
      done_reason: unload ? "unload" : "load",
      done: true,
    };
    sendBody(res, 200, JSON_HEADERS, goJson(line));
    return;
  }
  registry.setLoaded(model.name, !isZeroKeepAlive(body["keep_alive"]));
  await playChatScript(res, watch, server.nextScript() ?? DEFAULT_REPLY, {
    stream: body["stream"] !== false,
    jsonHeaders: JSON_HEADERS,
    streamHeaders: NDJSON_HEADERS,
    replyBody: (reply) => finalObject(requested, reply),
    replyChunks: (reply) => streamLines(requested, reply).map((line) => `${line}\n`),
    replyEnd: (reply) => `${finalLine(requested, reply)}\n`,
    errorBody: (status, message = defaultErrorMessage(status, requested)) => goJson({ error: message }),
    // Ollama's streamResponse: json.NewEncoder(w).Encode(gin.H{"error": …}), then stop.
    midstreamError: (message) => `${goJson({ error: message })}\n`,
  });
}

/** A reply cut into what Ollama streams: whole tool calls, one line each. */
interface ReplyPlan extends FragmentedReply {
  readonly doneReason: string;
  readonly evalTokens: number;
}

function planReply(reply: ReplyScript): ReplyPlan {
  const fragments = fragmentReply(reply);
  const finish = reply.finishReason;
  return {
    ...fragments,
    doneReason: finish === undefined || finish === "tool_calls" ? "stop" : finish,
    evalTokens:
      reply.usage?.completion ??
      Math.max(1, fragments.reasoning.length + fragments.content.length + fragments.toolCalls.length),
  };
}

/** Every NDJSON line of a streamed reply before the final `done: true` line (no newlines). */
function streamLines(model: string, reply: ReplyScript): string[] {
  const plan = planReply(reply);
  const line = (message: Record<string, unknown>): string =>
    goJson({ model, created_at: goTimeNow(), message, done: false });
  return [
    ...plan.reasoning.map((fragment) => line({ role: "assistant", content: "", thinking: fragment })),
    ...plan.content.map((fragment) => line({ role: "assistant", content: fragment })),
    ...plan.toolCalls.map(({ call, index }) =>
      line({ role: "assistant", content: "", tool_calls: [toolCallValue(call, index)] }),
    ),
  ];
}

/** The final line of a stream: empty message, `done_reason`, `done: true` and the metrics. */
function finalLine(model: string, reply: ReplyScript): string {
  const plan = planReply(reply);
  return goJson({
    model,
    created_at: goTimeNow(),
    message: { role: "assistant", content: "" },
    done_reason: plan.doneReason,
    done: true,
    ...metrics(plan),
  });
}

/** The whole answer to `"stream": false`. */
function finalObject(model: string, reply: ReplyScript): string {
  const plan = planReply(reply);
  const message: Record<string, unknown> = { role: "assistant", content: plan.content.join("") };
  if (plan.reasoning.length > 0) {
    message["thinking"] = plan.reasoning.join("");
  }
  if (plan.toolCalls.length > 0) {
    message["tool_calls"] = plan.toolCalls.map(({ call, index }) => toolCallValue(call, index));
  }
  return goJson({
    model,
    created_at: goTimeNow(),
    message,
    done_reason: plan.doneReason,
    done: true,
    ...metrics(plan),
  });
}

function metrics(plan: ReplyPlan): Record<string, number> {
  const promptEval = plan.promptTokens * PROMPT_EVAL_NS_PER_TOKEN;
  const evalDuration = plan.evalTokens * EVAL_NS_PER_TOKEN;
  return {
    total_duration: LOAD_DURATION_NS + promptEval + evalDuration,
    load_duration: LOAD_DURATION_NS,
    prompt_eval_count: plan.promptTokens,
    prompt_eval_duration: promptEval,
    eval_count: plan.evalTokens,
    eval_duration: evalDuration,
  };
}

/** `api.ToolCall`: `{"id"?, "function": {"index", "name", "arguments": <raw JSON, verbatim>}}`. */
function toolCallValue(call: FakeToolCall, index: number): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  if (call.id !== undefined) {
    value["id"] = call.id;
  }
  value["function"] = { index, name: call.name, arguments: rawJson(call.argumentsText) };
  return value;
}

function answerShow(exchange: FakeExchange, findModel: (name: string) => OllamaFakeModel | undefined): void {
  const { request, res } = exchange;
  const body = isJsonObject(request.body) ? request.body : {};
  const requested =
    typeof body["model"] === "string" ? body["model"] : typeof body["name"] === "string" ? body["name"] : "";
  const model = findModel(requested);
  if (model === undefined) {
    sendBody(res, 404, JSON_HEADERS, goJson({ error: `model '${requested}' not found` }));
    return;
  }
  const details = modelDetails(model);
  const arch = details.family;
  const contextLength = model.contextLength ?? 131072;
  sendBody(
    res,
    200,
    JSON_HEADERS,
    goJson({
      license: "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
      modelfile: `# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM ${model.name}\n\nFROM /root/.ollama/models/blobs/sha256-${digestOf(model.name)}\nTEMPLATE {{ .Prompt }}\nPARAMETER stop <|eot_id|>\n`,
      parameters: 'stop                           "<|eot_id|>"',
      template: "{{ .Prompt }}",
      details,
      model_info: sortedKeys({
        "general.architecture": arch,
        "general.basename": arch,
        "general.file_type": 15,
        "general.parameter_count": 1235814432,
        "general.quantization_version": 2,
        [`${arch}.attention.head_count`]: 32,
        [`${arch}.block_count`]: 16,
        [`${arch}.context_length`]: contextLength,
        [`${arch}.embedding_length`]: 2048,
      }),
      capabilities: model.capabilities ?? ["completion", "tools"],
      modified_at: MODIFIED_AT,
    }),
  );
}

/** When every fake model was "pulled". */
const MODIFIED_AT = "2025-09-30T08:15:42.123456789Z";

/** `api.ModelDetails`. */
interface ModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

function modelDetails(model: OllamaFakeModel): ModelDetails {
  const base = model.name.split(":")[0] ?? model.name;
  const family = model.family ?? (base.startsWith("llama") ? "llama" : base.startsWith("qwen2.5") ? "qwen2" : base);
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: [family],
    parameter_size: model.parameterSize ?? "1.2B",
    quantization_level: model.quantizationLevel ?? "Q4_K_M",
  };
}

function listEntry(model: OllamaFakeModel): Record<string, unknown> {
  return {
    name: model.name,
    model: model.name,
    modified_at: MODIFIED_AT,
    size: 1321098329,
    digest: digestOf(model.name),
    details: modelDetails(model),
  };
}

function loadedEntries(models: readonly OllamaFakeModel[], loaded: readonly string[]): Array<Record<string, unknown>> {
  const expiresAt = goTime(Date.now() + 5 * 60 * 1000, 0);
  return loaded.flatMap((name) => {
    const model = models.find((candidate) => candidate.name === name);
    if (model === undefined) {
      return [];
    }
    return [
      {
        name: model.name,
        model: model.name,
        size: 2586066944,
        digest: digestOf(model.name),
        details: modelDetails(model),
        expires_at: expiresAt,
        size_vram: 0,
        context_length: model.contextLength ?? 131072,
      },
    ];
  });
}

function modelNotFoundMessage(name: string): string {
  return `model ${JSON.stringify(name)} not found, try pulling it first`;
}

function defaultErrorMessage(status: number, model: string): string {
  if (status === 404) {
    return modelNotFoundMessage(model);
  }
  if (status === 503) {
    return "server busy, please try again.  maximum pending requests exceeded";
  }
  return (STATUS_CODES[status] ?? "error").toLowerCase();
}

function isZeroKeepAlive(value: unknown): boolean {
  return value === 0 || value === "0" || value === "0s" || value === "0m";
}

function digestOf(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** JSON text spliced verbatim into a {@link goJson} document. */
interface RawJson {
  readonly [rawJsonText]: string;
}

const rawJsonText: unique symbol = Symbol("rawJsonText");

function rawJson(text: string): RawJson {
  return { [rawJsonText]: text };
}

function isRawJson(value: unknown): value is RawJson {
  return typeof value === "object" && value !== null && rawJsonText in value;
}

/**
 * Serialise like Go's `json.Marshal`: compact, insertion order (callers pass struct field order),
 * `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c`-style sequences; {@link RawJson} values
 * are spliced in untouched.
 */
function goJson(value: unknown): string {
  if (isRawJson(value)) {
    return value[rawJsonText];
  }
  if (typeof value === "string") {
    return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(goJson).join(",")}]`;
  }
  if (isJsonObject(value)) {
    const members = Object.entries(value).map(([key, item]) => `${goJson(key)}:${goJson(item)}`);
    return `{${members.join(",")}}`;
  }
  return "null";
}

/** Go marshals `map[string]any` with its keys sorted. */
function sortedKeys(map: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(map).sort()) {
    sorted[key] = map[key];
  }
  return sorted;
}

/** Go's `time.Now().UTC()` as JSON: RFC 3339 with nanoseconds, trailing zeros trimmed. */
function goTimeNow(): string {
  const nanosWithinMilli = Number(process.hrtime.bigint() % 1_000_000n);
  return goTime(Date.now(), nanosWithinMilli);
}

function goTime(epochMillis: number, extraNanos: number): string {
  const iso = new Date(epochMillis).toISOString(); // 2025-01-02T03:04:05.678Z
  const seconds = iso.slice(0, 19);
  const nanos = (epochMillis % 1000) * 1_000_000 + extraNanos;
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return fraction.length === 0 ? `${seconds}Z` : `${seconds}.${fraction}Z`;
}
