/**
 * The OpenAI-compatible chat wire format, as llama.cpp `llama-server`,
 * vLLM, LM Studio, SGLang and Ollama's `/v1` speak it. Only the fields the
 * gateway reads or writes are typed; everything read is also checked at run
 * time in map.ts, because upstream JSON is untrusted input.
 */

/** A message in `messages`. */
export interface WireMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content: string | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: WireToolCall[];
}

/** A complete tool call in a request or a non-streamed response. */
export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** The body of POST /v1/chat/completions. Raw-spliced values are strings here. */
export interface WireChatRequest {
  model: string;
  messages: WireMessage[];
  stream: boolean;
  stream_options?: { include_usage: boolean };
  tools?: Array<{ type: "function"; function: { name: string; description?: string; parameters?: string; strict?: boolean } }>;
  tool_choice?: "auto" | "none" | "required" | { type: "function"; function: { name: string } };
  parallel_tool_calls?: boolean;
  response_format?:
    | { type: "text" }
    | { type: "json_object" }
    | { type: "json_schema"; json_schema: { name: string; schema: string; strict?: boolean } };
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  max_tokens?: number;
  seed?: number | string;
  stop?: string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  repeat_penalty?: number;
  repetition_penalty?: number;
  chat_template_kwargs?: { enable_thinking: boolean };
  [backendOption: string]: unknown;
}

/** `usage` of a response or of the last streamed chunk. */
export interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/** llama.cpp's `timings` (milliseconds). */
export interface WireTimings {
  prompt_n?: number;
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
}

/** A streamed tool-call fragment in `delta.tool_calls`. */
export interface WireToolCallDelta {
  index?: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

/** One `data:` chunk of a streamed response. */
export interface WireChunk {
  choices?: Array<{
    index?: number;
    delta?: {
      role?: string;
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: WireToolCallDelta[];
    };
    finish_reason?: string | null;
  }>;
  usage?: WireUsage | null;
  timings?: WireTimings;
  error?: { message?: string; code?: number; type?: string } | string;
}

/** A non-streamed response. */
export interface WireCompletion {
  choices?: Array<{
    message?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: Array<{ id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
    };
    finish_reason?: string | null;
  }>;
  usage?: WireUsage | null;
  timings?: WireTimings;
}

/** GET /v1/models. llama.cpp adds `meta`, vLLM adds `max_model_len`. */
export interface WireModelList {
  data?: Array<{
    id?: string;
    owned_by?: string;
    max_model_len?: number;
    meta?: { n_ctx_train?: number; size?: number };
  }>;
}
