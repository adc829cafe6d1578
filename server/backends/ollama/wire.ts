/**
 * Ollama's native API (`/api/chat`, `/api/tags`, `/api/ps`, `/api/show`).
 * Only the fields the gateway uses are typed; values read back are checked
 * at run time in map.ts.
 */

/** A message in `messages`. Tool-call arguments are JSON objects, spliced as raw text. */
export interface WireMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  thinking?: string;
  tool_calls?: Array<{ id?: string; function: { name: string; arguments: string } }>;
  tool_name?: string;
}

/** The body of POST /api/chat. Raw-spliced values are strings here. */
export interface WireChatRequest {
  model: string;
  messages: WireMessage[];
  stream: boolean;
  tools?: Array<{ type: "function"; function: { name: string; description?: string; parameters: string } }>;
  format?: "json" | string;
  options?: Record<string, unknown>;
  think?: boolean;
  keep_alive?: string | number;
}

/** One NDJSON line of /api/chat (or the whole non-streamed body). */
export interface WireChatLine {
  model?: string;
  message?: {
    role?: string;
    content?: string;
    thinking?: string;
    tool_calls?: Array<{ id?: string; function?: { index?: number; name?: string; arguments?: unknown } }>;
  };
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  prompt_eval_duration?: number;
  eval_duration?: number;
  error?: string;
}

/** GET /api/tags and GET /api/ps. */
export interface WireModelList {
  models?: Array<{ name?: string; model?: string; size?: number; digest?: string; context_length?: number }>;
}

/** POST /api/show. */
export interface WireShow {
  capabilities?: string[];
  model_info?: Record<string, unknown>;
}
