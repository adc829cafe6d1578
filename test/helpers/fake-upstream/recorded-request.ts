/**
 * The vocabulary both fake upstreams share: what a test scripts (`ChatScript`),
 * what a fake records (`RecordedRequest`), the surface every fake exposes
 * (`FakeUpstreamBase`) and the small HTTP/1.1 harness that records requests,
 * counts connections, queues scripts and notices clients that go away.
 *
 * The harness lives here rather than in a file of its own because this folder's
 * file list is fixed; it is the part of "recording a request" that owns sockets.
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

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

/** How a fake's router sees one request. */
export interface FakeExchange {
  /** The recorded request (already in `requests`). */
  readonly request: RecordedRequest;
  /** Path without the query string, for routing. */
  readonly pathname: string;
  /** Node's request object. */
  readonly req: IncomingMessage;
  /** Node's response object. */
  readonly res: ServerResponse;
}

/** Handle on one chat response the harness watches for client aborts. */
export interface ChatResponseWatch {
  /** Destroy the connection on purpose (a scripted drop); this is not counted as a client abort. */
  dropConnection(): void;
}

/** The harness a fake is built on: one listening HTTP/1.1 server plus the shared bookkeeping. */
export interface FakeServer extends FakeUpstreamBase {
  /** Take the next queued script, if any. */
  nextScript(): ChatScript | undefined;
  /** Count this response as a chat response: its client going away early counts as an abort. */
  watchChat(res: ServerResponse): ChatResponseWatch;
}

/** Routes one request; the harness answers 500 if it throws before sending headers. */
export type FakeRouter = (exchange: FakeExchange) => Promise<void> | void;

/**
 * Start an HTTP/1.1 server on 127.0.0.1, port 0, that records every request and hands it to
 * `route`.
 *
 * @example
 * const server = await startFakeServer(({ res }) => { res.end("ok"); });
 * await fetch(`${server.url}/`);
 * await server.close();
 */
export async function startFakeServer(route: FakeRouter): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const scripts: ChatScript[] = [];
  const sockets = new Set<Socket>();
  const abortWaiters: Array<() => void> = [];
  const requestWaiters: Array<{ index: number; resolve: (request: RecordedRequest) => void }> = [];
  let unawaitedAborts = 0;
  let abortedRequests = 0;
  let connectionCount = 0;
  let closing = false;

  const recordAbort = (): void => {
    abortedRequests += 1;
    const waiter = abortWaiters.shift();
    if (waiter === undefined) {
      unawaitedAborts += 1;
    } else {
      waiter();
    }
  };

  const httpServer = createServer((req, res) => {
    void receive(req, res);
  });
  httpServer.on("connection", (socket: Socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const receive = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) {
        chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
      }
    } catch {
      return; // the client went away while sending; nothing to answer
    }
    const bodyText = Buffer.concat(chunks).toString("utf8");
    const target = req.url ?? "/";
    const request: RecordedRequest = {
      method: req.method ?? "GET",
      path: target,
      headers: copyHeaders(req.headers),
      bodyText,
      body: parseJson(bodyText),
      receivedAt,
    };
    requests.push(request);
    for (const waiter of requestWaiters.filter((candidate) => candidate.index < requests.length)) {
      requestWaiters.splice(requestWaiters.indexOf(waiter), 1);
      waiter.resolve(requests[waiter.index] ?? request);
    }
    const queryStart = target.indexOf("?");
    const pathname = queryStart === -1 ? target : target.slice(0, queryStart);
    try {
      await route({ request, pathname, req, res });
    } catch (error) {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader("Content-Type", "text/plain");
        res.end(`fake upstream failed: ${String(error)}`);
      } else {
        res.destroy();
      }
    }
  };

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(0, "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    get url() {
      return url;
    },
    get requests() {
      return requests;
    },
    get abortedRequests() {
      return abortedRequests;
    },
    get connectionCount() {
      return connectionCount;
    },
    waitForAbort() {
      if (unawaitedAborts > 0) {
        unawaitedAborts -= 1;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => abortWaiters.push(resolve));
    },
    waitForRequest(index) {
      const recorded = requests[index];
      if (recorded !== undefined) {
        return Promise.resolve(recorded);
      }
      return new Promise<RecordedRequest>((resolve) => requestWaiters.push({ index, resolve }));
    },
    enqueue(script) {
      scripts.push(script);
    },
    nextScript() {
      return scripts.shift();
    },
    watchChat(res) {
      let droppedOnPurpose = false;
      res.on("close", () => {
        if (!res.writableFinished && !droppedOnPurpose && !closing) {
          recordAbort();
        }
      });
      return {
        dropConnection() {
          droppedOnPurpose = true;
          res.socket?.destroy();
          res.destroy();
        },
      };
    },
    async close() {
      closing = true;
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

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

/**
 * Write one piece of a streamed body and wait until Node has handed it to the socket, so that a
 * following drop or hang happens after the bytes left. Resolves `false` if the connection is gone.
 */
export function writeChunk(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) {
    return Promise.resolve(false);
  }
  return new Promise<boolean>((resolve) => {
    res.write(chunk, (error) => resolve(error === undefined || error === null));
  });
}

/** Send a complete body with an explicit `Content-Length`, as the real servers do for JSON. */
export function sendBody(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Uint8Array,
): void {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) {
    res.setHeader(name, value);
  }
  res.setHeader("Content-Length", String(bytes.byteLength));
  res.end(bytes);
}

/** Narrow an unknown JSON value to a plain object. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  if (text.length === 0) {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function copyHeaders(headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const copy: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    copy[name] = value;
  }
  return copy;
}
