import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatRequest } from "../../../gen/protogate/v1/inference_service_pb.js";
import { Role, ToolChoiceMode, WarningCode } from "../../../gen/protogate/v1/chat_pb.js";
import type { BackendFinish, BackendModel, MappingWarning, RawToolCall } from "../backend.js";
import { checkBackendOptions, type OptionAllowlist, unsupported } from "../backend-options.js";
import { asArray, asCount, asNumber, asObject, asString } from "../json-guards.js";
import { type RawJsonValue, parseRawJson, rawMember, toPlainJson } from "../raw-json.js";
import { createRawJsonBody } from "../raw-json-body.js";
import { toolParametersJson } from "../tool-schema.js";
import { samplingFields } from "../sampling-fields.js";
import { UpstreamError } from "../upstream-failure.js";
import type { WireChatRequest, WireMessage } from "./wire.js";

/**
 * Model options Ollama accepts in `options` (see its Modelfile parameters),
 * plus `keep_alive`, which goes at the top level. Sampling fields the
 * contract already has (temperature, num_predict, …) are not duplicated.
 */
export const ollamaOptionAllowlist: OptionAllowlist = {
  num_ctx: "integer",
  num_keep: "integer",
  num_batch: "integer",
  num_gpu: "integer",
  main_gpu: "integer",
  num_thread: "integer",
  use_mmap: "boolean",
  numa: "boolean",
  repeat_last_n: "integer",
  typical_p: "number",
  mirostat: "integer",
  mirostat_tau: "number",
  mirostat_eta: "number",
  penalize_newline: "boolean",
  keep_alive: "string-or-number",
};

const roleNames: Record<Role, WireMessage["role"]> = {
  [Role.UNSPECIFIED]: "user",
  [Role.SYSTEM]: "system",
  [Role.DEVELOPER]: "system",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
  [Role.TOOL]: "tool",
};

/**
 * Builds the body of POST /api/chat. Earlier tool-call arguments and JSON
 * Schemas are spliced in verbatim; what Ollama cannot express becomes a
 * warning.
 */
export function toWireRequest(request: ChatRequest, backendModel: string, stream: boolean): { bodyText: string; warnings: MappingWarning[] } {
  const body = createRawJsonBody();
  const warnings: MappingWarning[] = [];
  const ignored = (field: string, message: string) => warnings.push({ code: WarningCode.PARAMETER_IGNORED, message, field });
  const toolNamesById = new Map<string, string>();
  const wire: WireChatRequest = { model: backendModel, messages: [], stream };

  request.messages.forEach((message, index) => {
    if (message.role === Role.DEVELOPER) {
      warnings.push({ code: WarningCode.ROLE_MAPPED, message: "developer message sent as a system message", field: `messages[${index}].role` });
    }
    const wireMessage: WireMessage = { role: roleNames[message.role], content: message.content };
    if (message.reasoning !== "") wireMessage.thinking = message.reasoning;
    if (message.toolCalls.length > 0) {
      wireMessage.tool_calls = message.toolCalls.map((call, callIndex) => {
        toolNamesById.set(call.id, call.name);
        return { id: call.id, function: { name: call.name, arguments: body.raw(objectText(call.arguments, `messages[${index}].tool_calls[${callIndex}].arguments`)) } };
      });
    }
    if (message.role === Role.TOOL) {
      const toolName = message.name !== "" ? message.name : toolNamesById.get(message.toolCallId);
      if (toolName !== undefined) wireMessage.tool_name = toolName;
    }
    wire.messages.push(wireMessage);
  });

  const choice = request.toolChoice?.choice;
  const toolsDisabled = choice?.case === "mode" && choice.value === ToolChoiceMode.NONE;
  if (request.tools.length > 0 && !toolsDisabled) {
    wire.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === "" ? {} : { description: tool.description }),
        parameters: body.raw(toolParametersJson(tool)),
      },
    }));
  }
  if (choice?.case === "function" || (choice?.case === "mode" && choice.value === ToolChoiceMode.REQUIRED)) {
    ignored("tool_choice", "Ollama cannot force a tool call; the model decides");
  }
  if (request.parallelToolCalls !== undefined) ignored("parallel_tool_calls", "Ollama has no parallel_tool_calls switch");
  request.tools.forEach((tool, index) => {
    if (tool.strict) ignored(`tools[${index}].strict`, "Ollama has no strict tool schemas");
  });

  const format = request.responseFormat?.format;
  if (format?.case === "jsonObject") wire.format = "json";
  if (format?.case === "jsonSchema") wire.format = body.raw(format.value.schemaJson);

  const options = samplingFields(request.sampling, body, { maxTokens: "num_predict", repeatPenalty: "repeat_penalty" });
  const { keep_alive: keepAlive, ...modelOptions } = checkBackendOptions(
    request.backendOptions?.ollama as JsonObject | undefined,
    ollamaOptionAllowlist,
    "backend_options.ollama",
  );
  Object.assign(options, modelOptions);
  if (Object.keys(options).length > 0) wire.options = options;
  if (typeof keepAlive === "string" || typeof keepAlive === "number") wire.keep_alive = keepAlive;
  if (request.reasoning !== undefined) wire.think = request.reasoning;
  if (request.backendOptions?.openai !== undefined) ignored("backend_options.openai", "openai options are ignored by an Ollama backend");
  return { bodyText: body.stringify(wire), warnings };
}

/** Ollama wants tool-call arguments as an object: the text must be one. */
function objectText(text: string, field: string): string {
  if (text.trim() === "") return "{}";
  let parsed: RawJsonValue;
  try {
    parsed = parseRawJson(text);
  } catch {
    throw unsupported(field, "Ollama backends need tool-call arguments that are a JSON object; this text is not JSON");
  }
  if (parsed.kind !== "object") throw unsupported(field, "Ollama backends need tool-call arguments that are a JSON object");
  return parsed.raw;
}

/** What one NDJSON line (or a whole non-streamed body) carries. */
export interface ParsedLine {
  readonly content: string;
  readonly reasoning: string;
  readonly toolCalls: RawToolCall[];
  /** Set on the line with `done: true`. */
  readonly finish: BackendFinish | undefined;
}

/**
 * Parses one line of /api/chat. Lines with tool calls go through the raw
 * parser so each call's `arguments` object keeps its exact wire text; an
 * `{"error": …}` line is a mid-stream failure.
 */
export function parseChatLine(line: string): ParsedLine {
  let parsed: unknown;
  let rawLine: RawJsonValue | undefined;
  try {
    // Parsed once either way: the raw parser's result also gives the plain value.
    if (line.includes('"tool_calls"')) {
      rawLine = parseRawJson(line);
      parsed = toPlainJson(rawLine);
    } else {
      parsed = JSON.parse(line);
    }
  } catch {
    throw new UpstreamError({ kind: "protocol", detail: `chat line is not JSON: ${line.slice(0, 200)}` });
  }
  const object = asObject(parsed);
  if (object === undefined) throw new UpstreamError({ kind: "protocol", detail: "chat line is not an object" });
  if (object.error !== undefined) {
    throw new UpstreamError({ kind: "midstream", message: asString(object.error) ?? JSON.stringify(object.error) });
  }
  const message = asObject(object.message);
  const rawCalls = rawMember(rawMember(rawLine, "message"), "tool_calls");
  const toolCalls = asArray(message?.tool_calls).map((value, index): RawToolCall => {
    const fn = asObject(asObject(value)?.function);
    const name = asString(fn?.name);
    if (name === undefined) throw new UpstreamError({ kind: "protocol", detail: "tool call without a function name" });
    const rawArguments = rawMember(rawMember(rawCalls?.kind === "array" ? rawCalls.items[index] : undefined, "function"), "arguments");
    const argumentsText = rawArguments === undefined ? "" : rawArguments.kind === "string" ? rawArguments.value : rawArguments.raw;
    const id = asString(asObject(value)?.id);
    return { id: id === "" ? undefined : id, name, arguments: argumentsText };
  });
  return {
    content: asString(message?.content) ?? "",
    reasoning: asString(message?.thinking) ?? "",
    toolCalls,
    finish: object.done === true ? readFinish(object) : undefined,
  };
}

function readFinish(line: Record<string, unknown>): BackendFinish {
  const promptTokens = asCount(line.prompt_eval_count);
  const completionTokens = asCount(line.eval_count);
  const promptNs = asNumber(line.prompt_eval_duration);
  const generationNs = asNumber(line.eval_duration);
  return {
    rawFinishReason: asString(line.done_reason) ?? "stop",
    usage:
      promptTokens === undefined && completionTokens === undefined
        ? undefined
        : { promptTokens: promptTokens ?? 0, completionTokens: completionTokens ?? 0 },
    timings: {
      promptMs: promptNs === undefined ? undefined : promptNs / 1e6,
      generationMs: generationNs === undefined ? undefined : generationNs / 1e6,
    },
  };
}

/** The entries of /api/tags or /api/ps that name a model (`name`, or `model` on older servers). */
export function namedModels(list: unknown): Array<{ readonly name: string; readonly entry: Record<string, unknown> }> {
  return asArray(asObject(list)?.models).flatMap((value) => {
    const entry = asObject(value);
    const name = asString(entry?.name) ?? asString(entry?.model);
    return entry === undefined || name === undefined ? [] : [{ name, entry }];
  });
}

/** Ollama's capability names mapped to the contract's. */
export function capabilitiesFromShow(show: unknown): BackendModel["capabilities"] {
  const names = asArray(asObject(show)?.capabilities).map(asString);
  if (names.length === 0) return {};
  const completion = names.includes("completion");
  return {
    tools: names.includes("tools"),
    structuredOutput: completion,
    vision: names.includes("vision"),
    reasoning: names.includes("thinking"),
    embeddings: names.includes("embedding"),
  };
}

/** The context length from /api/show's `model_info` (`<arch>.context_length`). */
export function contextLengthFromShow(show: unknown): number | undefined {
  const info = asObject(asObject(show)?.model_info);
  if (info === undefined) return undefined;
  for (const [key, value] of Object.entries(info)) if (key.endsWith(".context_length")) return asCount(value);
  return undefined;
}
