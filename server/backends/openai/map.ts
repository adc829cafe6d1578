import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatRequest } from "../../../gen/protogate/v1/inference_service_pb.js";
import { Role, ToolChoiceMode, WarningCode } from "../../../gen/protogate/v1/chat_pb.js";
import type {
  BackendChatResult,
  BackendFinish,
  BackendStreamEvent,
  BackendTimings,
  BackendUsage,
  MappingWarning,
  RawToolCall,
} from "../backend.js";
import { checkBackendOptions, type OptionAllowlist } from "../backend-options.js";
import { asArray, asCount, asNumber, asObject, asString } from "../json-guards.js";
import { createRawJsonBody } from "../raw-json-body.js";
import { toolParametersJson } from "../tool-schema.js";
import { samplingFields } from "../sampling-fields.js";
import type { ToolCallBudget } from "../tool-call-budget.js";
import { UpstreamError } from "../upstream-failure.js";
import type { WireChatRequest, WireMessage } from "./wire.js";

/** Which OpenAI-compatible server this is, learned from GET /v1/models. */
export type OpenAiFlavour = "llamacpp" | "vllm" | "generic";

/**
 * Backend options passed through to OpenAI-compatible servers: llama.cpp
 * and vLLM sampling extensions and constrained decoding. Anything else is
 * rejected so that a typo never silently changes nothing.
 */
export const openAiOptionAllowlist: OptionAllowlist = {
  cache_prompt: "boolean",
  n_probs: "integer",
  logprobs: "boolean",
  top_logprobs: "integer",
  typical_p: "number",
  mirostat: "integer",
  mirostat_tau: "number",
  mirostat_eta: "number",
  repeat_last_n: "integer",
  dry_multiplier: "number",
  dry_base: "number",
  dry_allowed_length: "integer",
  xtc_probability: "number",
  xtc_threshold: "number",
  top_n_sigma: "number",
  n_keep: "integer",
  id_slot: "integer",
  grammar: "string",
  ignore_eos: "boolean",
  logit_bias: "object",
  guided_choice: "array",
  guided_regex: "string",
  guided_grammar: "string",
  min_tokens: "integer",
  skip_special_tokens: "boolean",
};

const roleNames: Record<Role, WireMessage["role"] | undefined> = {
  [Role.UNSPECIFIED]: undefined,
  [Role.SYSTEM]: "system",
  [Role.DEVELOPER]: "system",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
  [Role.TOOL]: "tool",
};

/**
 * Builds the body of POST /v1/chat/completions. JSON Schema texts are
 * spliced in verbatim. Returns the warnings for what could not be sent.
 */
export function toWireRequest(
  request: ChatRequest,
  backendModel: string,
  stream: boolean,
  flavour: OpenAiFlavour,
): { bodyText: string; warnings: MappingWarning[] } {
  const body = createRawJsonBody();
  const warnings: MappingWarning[] = [];
  const wire: WireChatRequest = { model: backendModel, messages: [], stream };
  if (stream) wire.stream_options = { include_usage: true };

  request.messages.forEach((message, index) => {
    const role = roleNames[message.role] ?? "user";
    if (message.role === Role.DEVELOPER) {
      warnings.push({
        code: WarningCode.ROLE_MAPPED,
        message: "developer message sent as a system message",
        field: `messages[${index}].role`,
      });
    }
    if (message.reasoning !== "") {
      warnings.push({
        code: WarningCode.PARAMETER_IGNORED,
        message: "earlier reasoning is not sent to OpenAI-compatible backends",
        field: `messages[${index}].reasoning`,
      });
    }
    const wireMessage: WireMessage = { role, content: message.content };
    if (message.name !== "") wireMessage.name = message.name;
    if (message.role === Role.TOOL) wireMessage.tool_call_id = message.toolCallId;
    if (message.toolCalls.length > 0) {
      if (message.content === "") wireMessage.content = null;
      wireMessage.tool_calls = message.toolCalls.map((call) => ({
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: call.arguments },
      }));
    }
    wire.messages.push(wireMessage);
  });

  if (request.tools.length > 0) {
    wire.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === "" ? {} : { description: tool.description }),
        parameters: body.raw(toolParametersJson(tool)),
        ...(tool.strict ? { strict: true } : {}),
      },
    }));
  }
  const choice = request.toolChoice?.choice;
  if (choice?.case === "mode") {
    wire.tool_choice = choice.value === ToolChoiceMode.NONE ? "none" : choice.value === ToolChoiceMode.REQUIRED ? "required" : "auto";
  } else if (choice?.case === "function") {
    wire.tool_choice = { type: "function", function: { name: choice.value } };
  }
  if (request.parallelToolCalls !== undefined) wire.parallel_tool_calls = request.parallelToolCalls;

  const format = request.responseFormat?.format;
  if (format?.case === "text") wire.response_format = { type: "text" };
  if (format?.case === "jsonObject") wire.response_format = { type: "json_object" };
  if (format?.case === "jsonSchema") {
    wire.response_format = {
      type: "json_schema",
      json_schema: {
        name: format.value.name === "" ? "response" : format.value.name,
        schema: body.raw(format.value.schemaJson),
        ...(format.value.strict ? { strict: true } : {}),
      },
    };
  }

  Object.assign(
    wire,
    samplingFields(request.sampling, body, {
      maxTokens: "max_tokens",
      repeatPenalty: flavour === "vllm" ? "repetition_penalty" : "repeat_penalty",
    }),
  );
  if (request.reasoning !== undefined) wire.chat_template_kwargs = { enable_thinking: request.reasoning };

  const options = checkBackendOptions(
    request.backendOptions?.openai as JsonObject | undefined,
    openAiOptionAllowlist,
    "backend_options.openai",
  );
  Object.assign(wire, options);
  if (request.backendOptions?.ollama !== undefined) {
    warnings.push({
      code: WarningCode.PARAMETER_IGNORED,
      message: "ollama options are ignored by an OpenAI-compatible backend",
      field: "backend_options.ollama",
    });
  }
  return { bodyText: body.stringify(wire), warnings };
}

function readUsage(value: unknown): BackendUsage | undefined {
  const usage = asObject(value);
  if (usage === undefined) return undefined;
  return { promptTokens: asCount(usage.prompt_tokens) ?? 0, completionTokens: asCount(usage.completion_tokens) ?? 0 };
}

function readTimings(value: unknown): BackendTimings {
  const timings = asObject(value);
  const promptMs = asNumber(timings?.prompt_ms);
  const generationMs = asNumber(timings?.predicted_ms);
  return { promptMs, generationMs };
}

/** Reads reasoning text under either name servers use for it. */
function readReasoning(holder: Record<string, unknown> | undefined): string {
  return asString(holder?.reasoning_content) ?? asString(holder?.reasoning) ?? "";
}

/** Maps a non-streamed `chat.completion` body to the gateway's result. */
export function completionToResult(json: unknown): BackendChatResult {
  const completion = asObject(json);
  const choice = asObject(asArray(completion?.choices)[0]);
  const message = asObject(choice?.message);
  if (completion === undefined || choice === undefined || message === undefined) {
    throw new UpstreamError({ kind: "protocol", detail: "completion has no choices[0].message" });
  }
  const toolCalls: RawToolCall[] = asArray(message.tool_calls).map((value) => {
    const call = asObject(value);
    const fn = asObject(call?.function);
    const name = asString(fn?.name);
    if (name === undefined) throw new UpstreamError({ kind: "protocol", detail: "tool call without a function name" });
    return { id: asString(call?.id), name, arguments: asString(fn?.arguments) ?? "" };
  });
  return {
    content: asString(message.content) ?? "",
    reasoning: readReasoning(message),
    toolCalls,
    rawFinishReason: asString(choice.finish_reason) ?? "",
    usage: readUsage(completion.usage),
    timings: readTimings(completion.timings),
  };
}

/**
 * Turns SSE chunks into events. The finish reason and the usage arrive in
 * different chunks, so this keeps them until the stream's end.
 */
export interface ChunkMapper {
  /** Events for one parsed `data:` chunk. */
  map(chunk: unknown): BackendStreamEvent[];
  /** The finish, once a finish reason was seen. */
  finish(): BackendFinish | undefined;
}

/** Creates a ChunkMapper for one stream; the tool calls' text is counted against `toolCalls`. */
export function createChunkMapper(toolCalls: ToolCallBudget): ChunkMapper {
  let rawFinishReason: string | undefined;
  let usage: BackendUsage | undefined;
  let timings: BackendTimings = {};
  return {
    map(chunk) {
      const object = asObject(chunk);
      if (object === undefined) throw new UpstreamError({ kind: "protocol", detail: "stream chunk is not an object" });
      if (object.error !== undefined) {
        const error = asObject(object.error);
        throw new UpstreamError({ kind: "midstream", message: asString(error?.message) ?? JSON.stringify(object.error) });
      }
      usage = readUsage(object.usage) ?? usage;
      if (object.timings !== undefined) timings = readTimings(object.timings);
      const events: BackendStreamEvent[] = [];
      const choice = asObject(asArray(object.choices)[0]);
      if (choice === undefined) return events;
      const delta = asObject(choice.delta);
      const reasoning = readReasoning(delta);
      if (reasoning !== "") events.push({ kind: "reasoning", text: reasoning });
      const content = asString(delta?.content);
      if (content !== undefined && content !== "") events.push({ kind: "content", text: content });
      for (const value of asArray(delta?.tool_calls)) {
        const call = asObject(value);
        const fn = asObject(call?.function);
        const id = asString(call?.id);
        const name = asString(fn?.name);
        const argumentsFragment = asString(fn?.arguments) ?? "";
        toolCalls.spend(id, name, argumentsFragment);
        events.push({ kind: "tool-call-delta", index: asCount(call?.index) ?? 0, id, name, argumentsFragment });
      }
      const finishReason = asString(choice.finish_reason);
      if (finishReason !== undefined && finishReason !== "") rawFinishReason = finishReason;
      return events;
    },
    finish() {
      return rawFinishReason === undefined ? undefined : { rawFinishReason, usage, timings };
    },
  };
}
