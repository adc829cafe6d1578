/**
 * A minimal OpenAI-compatible upstream for overhead benchmarks: it answers
 * every chat with the same non-streamed `chat.completion` body (llama.cpp's
 * shape and headers), so whatever a gateway adds on top of it is the
 * gateway's own cost. It does no work per request beyond draining the body.
 *
 * Run it on its own (`npx tsx bench/fixed-upstream.ts --port 0`) or let
 * bench/gateway-overhead.ts start it as a child process, so that the
 * upstream, the gateway and the load generator never share an event loop.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type BenchChild, startChild } from "./child-processes.js";
import type { LoadTarget } from "./load-generator.js";
import { portFlag, runWhenMain } from "./standalone-server.js";

/** The one model the upstream lists (a llama.cpp-style GGUF file name). */
export const FIXED_MODEL = "Llama-3.2-1B-Instruct-Q4_K_M.gguf";

/** The assistant text every completion carries; clients check for it. */
export const FIXED_CONTENT = "Hello! How can I help you today?";

/** The user's message of every benchmark chat. */
export const FIXED_PROMPT = "Say hello in one short sentence.";

/**
 * The unary Connect JSON Chat that the multi-process benchmarks send to
 * protogate at `baseUrl` (or to a proxy speaking its contract), checked
 * for the fixed answer.
 */
export function protogateChatTarget(baseUrl: string, headers: Readonly<Record<string, string>> = {}): LoadTarget {
  return {
    url: `${baseUrl}/protogate.v1.InferenceService/Chat`,
    headers,
    body: Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: FIXED_PROMPT }] })),
    expectInBody: FIXED_CONTENT,
  };
}

/** Where the upstream listens. */
export interface FixedUpstreamOptions {
  /** Loopback address to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one. */
  readonly port?: number;
}

/** A running fixed-response upstream. */
export interface FixedUpstream {
  /** Base URL without `/v1`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Chat completions answered so far. */
  chatCount(): number;
  close(): Promise<void>;
}

const created = 1_735_689_600; // fixed: the body is built once

/** llama.cpp's non-streamed answer, fields in llama.cpp's (ordered_json) order. */
const completionBody = Buffer.from(
  JSON.stringify({
    choices: [{ finish_reason: "stop", index: 0, message: { role: "assistant", content: FIXED_CONTENT } }],
    created,
    model: FIXED_MODEL,
    system_fingerprint: "b6700-3df2244d",
    object: "chat.completion",
    usage: { completion_tokens: 10, prompt_tokens: 12, total_tokens: 22 },
    id: "chatcmpl-4mZ0pX2mC8a1B7qVt3nK9yRbLs6dHfGe",
    timings: {
      cache_n: 0,
      prompt_n: 12,
      prompt_ms: 15,
      prompt_per_token_ms: 1.25,
      prompt_per_second: 800,
      predicted_n: 10,
      predicted_ms: 80,
      predicted_per_token_ms: 8,
      predicted_per_second: 125,
    },
  }),
);

/** llama.cpp's `/v1/models`: one entry, `owned_by: "llamacpp"`. */
const modelsBody = Buffer.from(
  JSON.stringify({
    object: "list",
    data: [
      {
        id: FIXED_MODEL,
        object: "model",
        created,
        owned_by: "llamacpp",
        meta: { vocab_type: 2, n_vocab: 128256, n_ctx_train: 131072, n_embd: 2048, n_params: 1235814432, size: 799862912 },
      },
    ],
  }),
);

const healthBody = Buffer.from('{"status":"ok"}');
const notFoundBody = Buffer.from('{"error":{"message":"File Not Found","type":"not_found_error","code":404}}');

function send(response: ServerResponse, status: number, body: Buffer): void {
  response.writeHead(status, {
    Server: "llama.cpp",
    "Access-Control-Allow-Origin": "",
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": body.length,
  });
  response.end(body);
}

/**
 * Starts the fixed-response upstream on loopback. Routes:
 * `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`, and
 * `GET /bench/chat-count` (how many chats it answered, so a benchmark can
 * check that a gateway really forwarded every request).
 *
 * @example
 * const upstream = await startFixedUpstream();
 * // …point a gateway at upstream.url…
 * await upstream.close();
 */
export async function startFixedUpstream(options: FixedUpstreamOptions = {}): Promise<FixedUpstream> {
  let chats = 0;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const route = `${request.method ?? ""} ${request.url ?? ""}`;
    // Answer only after the whole request body has arrived, like a real server.
    request.resume();
    request.once("end", () => {
      switch (route) {
        case "POST /v1/chat/completions":
          chats++;
          return send(response, 200, completionBody);
        case "GET /v1/models":
          return send(response, 200, modelsBody);
        case "GET /health":
          return send(response, 200, healthBody);
        case "GET /bench/chat-count":
          return send(response, 200, Buffer.from(JSON.stringify({ chats })));
        default:
          return send(response, 404, notFoundBody);
      }
    });
  });
  // Keep idle client connections between benchmark rounds.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    chatCount: () => chats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts the upstream in a process of its own, so that it never shares an
 * event loop with what is measured, and reads its URL from the line it
 * prints. `root` is the checkout whose bench/ holds this file.
 */
export async function startFixedUpstreamProcess(root: string): Promise<{ readonly child: BenchChild; readonly url: string }> {
  const child = startChild("upstream", process.execPath, ["--import", "tsx", "bench/fixed-upstream.ts", "--port", "0"], { cwd: root });
  const url = (await child.waitForLine(/fixed upstream listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
  return { child, url };
}

/** How startProtogateProcess starts the gateway. */
export interface ProtogateProcessOptions {
  /** The child's name in messages (default "protogate"). */
  readonly name?: string;
  /** Go to Node before tsx is loaded (V8 flags, `--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /** Imported after tsx, so it may be TypeScript. */
  readonly preload?: string;
  /** More arguments for `serve` (e.g. `--config FILE`). */
  readonly serveArgs?: readonly string[];
  /** Opens an IPC channel to the child. */
  readonly ipc?: boolean;
}

/**
 * Starts `protogate serve` through the real CLI from the checkout at
 * `root`, in a process of its own, in front of the upstream at
 * `upstreamUrl`, and reads its URL from the line it prints.
 *
 * @example
 * const { child, url } = await startProtogateProcess(repoRoot, upstreamUrl, { preload: "bench/heap-sampling-preload.ts", ipc: true });
 */
export async function startProtogateProcess(
  root: string,
  upstreamUrl: string,
  options: ProtogateProcessOptions = {},
): Promise<{ readonly child: BenchChild; readonly url: string }> {
  // A TypeScript preload needs tsx; the gateway itself then runs through bin/typescript-hooks.js, registered later, so first.
  const preload = options.preload === undefined ? [] : ["--import", "tsx", "--import", options.preload];
  const serve = ["bin/protogate.js", "serve", "--host", "127.0.0.1", "--port", "0", "--backend", `openai=${upstreamUrl}`, ...(options.serveArgs ?? [])];
  const args = [...(options.nodeFlags ?? []), ...preload, ...serve];
  const child = startChild(options.name ?? "protogate", process.execPath, args, { cwd: root, ipc: options.ipc === true });
  const url = (await child.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1] ?? "";
  return { child, url };
}

runWhenMain(import.meta.url, "fixed upstream", (argv) => startFixedUpstream({ port: portFlag(argv) }));
