/**
 * The harness both fake upstreams are built on: a small HTTP/1.1 server that records requests,
 * counts connections, queues scripts and notices clients that go away, and `playChatScript`,
 * which acts out a `ChatScript` the same way for every backend while the fake supplies only its
 * wire format (`ChatWire`).
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { DEFAULT_CONTENT } from "./recorded-request.js";
import type { ChatScript, FakeUpstreamBase, RecordedRequest, ReplyScript } from "./recorded-request.js";

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
 * The object a fake hands to tests: the harness's `FakeUpstreamBase` members (live, not copied)
 * plus the fake's own `extras` (getters stay getters). `nextScript` and `watchChat` stay private.
 * `NoInfer` makes `Extras` come from the argument, not from the caller's declared return type.
 *
 * @example
 * return fakeSurface(server, { setLoading(value: boolean) { loading = value; } });
 */
export function fakeSurface<Extras extends object>(server: FakeServer, extras: Extras): FakeUpstreamBase & NoInfer<Extras> {
  const base: FakeUpstreamBase = {
    get url() {
      return server.url;
    },
    get requests() {
      return server.requests;
    },
    get abortedRequests() {
      return server.abortedRequests;
    },
    get connectionCount() {
      return server.connectionCount;
    },
    waitForAbort: () => server.waitForAbort(),
    waitForRequest: (index) => server.waitForRequest(index),
    enqueue: (script) => server.enqueue(script),
    close: () => server.close(),
  };
  return Object.defineProperties(base, Object.getOwnPropertyDescriptors(extras)) as FakeUpstreamBase & Extras;
}

/** How one backend writes a chat answer; `playChatScript` decides what to write and when. */
export interface ChatWire {
  /** Whether the client asked for a stream. */
  readonly stream: boolean;
  /** Headers of JSON bodies: non-streamed answers and errors. */
  readonly jsonHeaders: Record<string, string>;
  /** Headers of a streamed answer (SSE or NDJSON). */
  readonly streamHeaders: Record<string, string>;
  /** The whole answer to a non-streaming request. */
  replyBody(reply: ReplyScript): string;
  /** Every piece of a streamed answer before its terminator, each ready to write as is. */
  replyChunks(reply: ReplyScript): string[];
  /** What ends a complete stream (`data: [DONE]`, Ollama's final `done: true` line). */
  replyEnd(reply: ReplyScript): string;
  /** An error body for an HTTP status; without a message, the backend's own for that status. */
  errorBody(status: number, message?: string): string;
  /** The piece a stream that fails part-way ends with. */
  midstreamError(message: string): string;
}

/**
 * Answer one chat request as `script` says, in the backend's wire format. The semantics are the
 * ones `ChatScript` documents, shared by every fake: a stream when the client asked for one,
 * partial replies cut after `afterChunks` pieces, HTTP 500 for a mid-stream error the client
 * did not stream, nothing at all for a hang it did not stream.
 *
 * @example
 * await playChatScript(res, server.watchChat(res), server.nextScript() ?? DEFAULT_REPLY, wire);
 */
export async function playChatScript(
  res: ServerResponse,
  watch: ChatResponseWatch,
  script: ChatScript,
  wire: ChatWire,
): Promise<void> {
  const sendPartial = (content: string | undefined, pieces: number): Promise<boolean> =>
    sendStream(res, wire.streamHeaders, wire.replyChunks(partialReply(content)).slice(0, pieces));
  switch (script.kind) {
    case "reply":
      if (!wire.stream) {
        sendBody(res, 200, wire.jsonHeaders, wire.replyBody(script));
        return;
      }
      if (await sendStream(res, wire.streamHeaders, wire.replyChunks(script))) {
        await writeChunk(res, wire.replyEnd(script));
      }
      res.end();
      return;
    case "http-error":
      sendBody(res, script.status, { ...wire.jsonHeaders, ...script.headers }, script.body ?? wire.errorBody(script.status));
      return;
    case "midstream-error":
      if (!wire.stream) {
        sendBody(res, 500, wire.jsonHeaders, wire.errorBody(500, script.message));
        return;
      }
      if (await sendPartial(script.content, script.afterChunks)) {
        await writeChunk(res, wire.midstreamError(script.message));
      }
      res.end();
      return;
    case "drop":
      if (wire.stream) {
        await sendPartial(script.content, script.afterChunks);
      }
      watch.dropConnection();
      return;
    case "hang":
      if (wire.stream) {
        await sendPartial(script.content, script.afterChunks ?? 0);
      }
      return; // never finishes; the client going away is counted as an abort
    case "raw":
      sendBody(res, script.status, script.headers, script.body);
      return;
  }
}

/** The reply a drop, hang or mid-stream error sends part of. */
function partialReply(content: string | undefined): ReplyScript {
  return { kind: "reply", content: content ?? DEFAULT_CONTENT };
}

/** Send the stream's headers (at once) and then each piece; `false` if the client went away. */
async function sendStream(res: ServerResponse, headers: Record<string, string>, pieces: readonly string[]): Promise<boolean> {
  res.writeHead(200, headers);
  res.flushHeaders();
  for (const piece of pieces) {
    if (!(await writeChunk(res, piece))) {
      return false;
    }
  }
  return true;
}

/**
 * Write one piece of a streamed body and wait until Node has handed it to the socket, so that a
 * following drop or hang happens after the bytes left. Resolves `false` if the connection is gone.
 */
function writeChunk(res: ServerResponse, chunk: string): Promise<boolean> {
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
