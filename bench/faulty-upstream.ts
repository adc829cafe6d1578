/**
 * A fault-injecting OpenAI-compatible upstream for load benchmarks: it
 * streams a fixed answer token by token (SSE, like llama.cpp) and, at
 * random, drops the connection or stalls forever. Deterministic for a seed.
 */
import { type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createRandom } from "../test/helpers/random-json.js";

/** Options of startFaultyUpstream. */
export interface FaultyUpstreamOptions {
  /** Share of chat requests whose connection is dropped (half before the first token, half mid-stream). */
  readonly dropRatio: number;
  /** Share of chat requests that stall after a few tokens and never finish. */
  readonly stallRatio: number;
  /** Tokens per answer. */
  readonly tokens: number;
  /** Milliseconds between tokens. */
  readonly tokenIntervalMs: number;
  /** Seed of the fault draws. */
  readonly seed: number;
}

/** What the upstream did, by kind. */
export interface FaultCounts {
  chats: number;
  completed: number;
  droppedBeforeFirstToken: number;
  droppedMidStream: number;
  stalled: number;
}

/** A running faulty upstream. */
export interface FaultyUpstream {
  readonly url: string;
  readonly model: string;
  readonly counts: FaultCounts;
  close(): Promise<void>;
}

const model = "bench-model";

/** Starts the upstream on 127.0.0.1, port 0. */
export async function startFaultyUpstream(options: FaultyUpstreamOptions): Promise<FaultyUpstream> {
  const random = createRandom(options.seed);
  const counts: FaultCounts = { chats: 0, completed: 0, droppedBeforeFirstToken: 0, droppedMidStream: 0, stalled: 0 };
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (req.method === "GET" && path === "/v1/models") {
      return json(res, { object: "list", data: [{ id: model, object: "model", owned_by: "llamacpp" }] });
    }
    if (req.method === "GET" && path === "/health") return json(res, { status: "ok" });
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    req.resume();
    req.once("end", () => {
      counts.chats++;
      const draw = random.next();
      const fault =
        draw < options.dropRatio / 2
          ? "drop-early"
          : draw < options.dropRatio
            ? "drop-mid"
            : draw < options.dropRatio + options.stallRatio
              ? "stall"
              : "none";
      void stream(res, fault);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  async function stream(res: ServerResponse, fault: "none" | "drop-early" | "drop-mid" | "stall"): Promise<void> {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ choices: [{ finish_reason: finish, index: 0, delta }], object: "chat.completion.chunk", model })}\n\n`;
    res.write(chunk({ role: "assistant", content: null }, null));
    if (fault === "drop-early") {
      counts.droppedBeforeFirstToken++;
      res.socket?.destroy();
      return;
    }
    const cutAt = fault === "none" ? Number.POSITIVE_INFINITY : Math.floor(options.tokens / 2);
    for (let index = 0; index < options.tokens; index++) {
      if (index === cutAt) {
        if (fault === "drop-mid") {
          counts.droppedMidStream++;
          res.socket?.destroy();
        } else {
          counts.stalled++; // never another byte; the client's going away closes it
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, options.tokenIntervalMs));
      if (res.destroyed) return;
      res.write(chunk({ content: `tok${index} ` }, null));
    }
    res.write(chunk({}, "stop"));
    res.write(
      `data: ${JSON.stringify({ choices: [], object: "chat.completion.chunk", model, usage: { prompt_tokens: 12, completion_tokens: options.tokens, total_tokens: 12 + options.tokens } })}\n\n`,
    );
    res.end("data: [DONE]\n\n");
    counts.completed++;
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    model,
    counts,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}
