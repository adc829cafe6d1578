/**
 * The vocabulary both fake upstreams share: what a test scripts (`ChatScript`), what a fake
 * records (`RecordedRequest`), the surface every fake exposes (`FakeUpstreamBase`) and how a
 * scripted reply is cut into stream fragments. The HTTP harness is in fake-server.ts.
 */

/** One HTTP request exactly as a fake received it. */
export interface RecordedRequest {
  /** HTTP method, upper case (`"POST"`). */
  method: string;
  /** Request target as sent, including any query string (`"/v1/chat/completions"`). */
  path: string;
  /** Request headers as Node parsed them (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body decoded as UTF-8 (empty string when there was none). */
  bodyText: string;
  /** `bodyText` parsed as JSON, or `undefined` when it is empty or not JSON. */
  body: unknown;
  /** `performance.now()` when the request's head arrived (before its body was read). */
  receivedAt: number;
}

/** A tool call a scripted reply makes. */
export interface FakeToolCall {
  /** Tool-call id. Omitted → the wire carries no id at all (no field, not an empty string). */
  id?: string;
  /** Function name. */
  name: string;
  /**
   * The exact argument JSON text. OpenAI fakes send it as the `arguments` string (streamed in
   * fragments); the Ollama fake splices it verbatim as a raw JSON object, never re-serialised.
   */
  argumentsText: string;
  /** Wire `index` override (e.g. all `0`, as Ollama's `/v1` sends parallel calls). Default: position. */
  index?: number;
}

/** Token counts a reply reports. */
export interface FakeUsage {
  /** Prompt tokens. */
  prompt: number;
  /** Completion tokens. */
  completion: number;
}

/**
 * A normal answer. The fake answers in the mode the client asked for: a stream when the request
 * says so (OpenAI: `"stream": true`; Ollama: unless `"stream": false`), else one JSON body.
 */
export interface ReplyScript {
  kind: "reply";
  /** Answer text. Default `"Hello from fake"` when there is neither reasoning nor a tool call. */
  content?: string;
  /** Reasoning ("thinking") text, streamed before the content. */
  reasoning?: string;
  /** OpenAI fakes: the field reasoning travels in. Default `"reasoning_content"`; newer vLLM uses `"reasoning"`. */
  reasoningField?: "reasoning_content" | "reasoning";
  /** Tool calls, after the content. */
  toolCalls?: FakeToolCall[];
  /** Finish reason. Default `"tool_calls"` when there are tool calls, else `"stop"` (Ollama: always `"stop"` unless `"length"`). */
  finishReason?: string;
  /** Token counts. Default: prompt 10, completion = number of streamed fragments. */
  usage?: FakeUsage;
  /** UTF-16 code units per streamed fragment (never splitting a surrogate pair). Default 4. */
  fragmentSize?: number;
}

/** Answer with an HTTP error status before any body. */
export interface HttpErrorScript {
  kind: "http-error";
  /** HTTP status, e.g. 503, 429, 404. */
  status: number;
  /** Exact body. Default: the backend's own error body for that status. */
  body?: string;
  /** Extra or overriding response headers (e.g. `{ "Retry-After": "2" }`). */
  headers?: Record<string, string>;
}

/**
 * Fail after part of a stream, the way the backend does: llama.cpp sends `data: {"error":…}` and
 * stops, vLLM sends `data: {"error": …}` then `data: [DONE]`, Ollama sends an `{"error":…}` line,
 * all under HTTP 200. A non-streaming request gets an HTTP 500 error body instead.
 */
export interface MidstreamErrorScript {
  kind: "midstream-error";
  /** Normal stream events (SSE events / NDJSON lines) sent before the error. */
  afterChunks: number;
  /** Error message. */
  message: string;
  /** Content of the partial reply. Default `"Hello from fake"`. */
  content?: string;
}

/** Send part of a normal stream, then destroy the socket (no terminator, no final chunk). */
export interface DropScript {
  kind: "drop";
  /** Normal stream events sent before the socket is destroyed. */
  afterChunks: number;
  /** Content of the partial reply. Default `"Hello from fake"`. */
  content?: string;
}

/**
 * Send headers (and some events) and then never finish, to test cancellation. A non-streaming
 * request gets nothing at all, like a server still generating.
 */
export interface HangScript {
  kind: "hang";
  /** Normal stream events sent before hanging. Default 0. */
  afterChunks?: number;
  /** Content of the partial reply. Default `"Hello from fake"`. */
  content?: string;
}

/** Answer with exactly these bytes (Node still adds `Date`, `Connection` and `Content-Length`). */
export interface RawScript {
  kind: "raw";
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Record<string, string>;
  /** Exact body. */
  body: string | Uint8Array;
}

/** What a fake does with one chat request; queue them with `enqueue`. */
export type ChatScript =
  | ReplyScript
  | HttpErrorScript
  | MidstreamErrorScript
  | DropScript
  | HangScript
  | RawScript;

/** The surface every fake upstream exposes to tests. */
export interface FakeUpstreamBase {
  /** `"http://127.0.0.1:PORT"`, no trailing slash. */
  readonly url: string;
  /** Every request received, in order of arrival (recorded once its body has been read). */
  readonly requests: RecordedRequest[];
  /** Number of chat requests whose client went away before the fake finished the response. */
  readonly abortedRequests: number;
  /** Number of TCP connections accepted so far (keep-alive reuse keeps it low). */
  readonly connectionCount: number;
  /**
   * Resolves when the next client abort of a chat request is seen, or at once for an abort that
   * already happened and was not awaited yet. Event-driven: no polling.
   */
  waitForAbort(): Promise<void>;
  /**
   * Resolves with `requests[index]` (0-based) as soon as that request has been recorded, which
   * happens before it is answered. Lets a test act on an in-flight request without polling.
   */
  waitForRequest(index: number): Promise<RecordedRequest>;
  /** Queue a script for the next chat request (FIFO). Unscripted requests get `"Hello from fake"`. */
  enqueue(script: ChatScript): void;
  /** Close the server and destroy open sockets. Responses cut off by this do not count as aborts. */
  close(): Promise<void>;
}

/** The default answer to an unscripted chat request. */
export const DEFAULT_REPLY: ReplyScript = { kind: "reply", content: "Hello from fake" };

/** The content partial replies use when a script names none. */
export const DEFAULT_CONTENT = "Hello from fake";

/**
 * Split `text` into fragments of `size` UTF-16 code units, never splitting a surrogate pair
 * (a fragment that would end on a high surrogate takes its low surrogate too).
 *
 * @example
 * splitFragments("Hello from fake", 4); // ["Hell", "o fr", "om f", "ake"]
 */
export function splitFragments(text: string, size: number): string[] {
  const step = Math.max(1, Math.floor(size));
  const fragments: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + step, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) {
      end += 1;
    }
    fragments.push(text.slice(start, end));
    start = end;
  }
  return fragments;
}

/** A reply cut into fragments, the same way by every fake; each wire adds its own finish reason and counts. */
export interface FragmentedReply {
  /** Reasoning ("thinking") fragments. */
  readonly reasoning: readonly string[];
  /** Content fragments (the default content when the reply has neither reasoning nor tool calls). */
  readonly content: readonly string[];
  /** Tool calls with their wire index and their argument text's fragments. */
  readonly toolCalls: ReadonlyArray<{ readonly call: FakeToolCall; readonly index: number; readonly fragments: readonly string[] }>;
  /** Prompt tokens to report. */
  readonly promptTokens: number;
}

/**
 * Apply `ReplyScript`'s wire-independent defaults and cut its texts into fragments.
 *
 * @example
 * fragmentReply({ kind: "reply" }).content; // ["Hell", "o fr", "om f", "ake"]
 */
export function fragmentReply(reply: ReplyScript): FragmentedReply {
  const size = reply.fragmentSize ?? 4;
  const toolCalls = reply.toolCalls ?? [];
  const contentText =
    reply.content ?? (reply.reasoning === undefined && toolCalls.length === 0 ? DEFAULT_CONTENT : "");
  return {
    reasoning: splitFragments(reply.reasoning ?? "", size),
    content: splitFragments(contentText, size),
    toolCalls: toolCalls.map((call, position) => ({
      call,
      index: call.index ?? position,
      fragments: splitFragments(call.argumentsText, size),
    })),
    promptTokens: reply.usage?.prompt ?? 10,
  };
}
