// First: V8 settings that must apply before the gateway allocates anything.
import "./v8-heap-tuning.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { requestIdOf } from "../sdk/index.js";
import { chatCommand } from "./chat-command.js";
import { parseClientFlags } from "./client-flags.js";
import { tolerateClosedOutput } from "./closed-output.js";
import { modelsCommand } from "./models-command.js";
import { sandboxCommand } from "./sandbox-command.js";
import { parseStatsArgs, statsCommand } from "./stats-command.js";

const usage = `protogate — a Protobuf-typed gateway for local LLMs

usage:
  protogate serve [--config FILE] [--host HOST] [--port N] [--backend KIND=URL]... [--allow-host NAME]...
  protogate models [--url URL] [--protocol connect|grpc|grpc-web]
  protogate chat MODEL "prompt" [--url URL] [--protocol connect|grpc|grpc-web]
  protogate sandbox check|run FILE.ts [--url URL]   type-check or run TypeScript against the gateway SDK
  protogate sandbox docs [QUERY] [--url URL]        search the sandbox SDK's docs
  protogate stats [--once] [--interval SECONDS] [--model ID] [--url URL]   live traffic summary

KIND is openai (llama.cpp, vLLM, LM Studio, SGLang, Ollama /v1) or ollama (native API).
The client commands talk to $PROTOGATE_URL or http://127.0.0.1:7070.`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      if (rest.includes("--help")) return console.log(usage);
      // Loaded only here: the server (with TypeScript, for the sandbox) takes seconds to import, the client commands need none of it.
      await (await import("../server/main.js")).serveMain(rest);
      return;
    case "models": {
      const { client } = parseClientFlags(rest, process.env);
      return modelsCommand(client, (line) => console.log(line));
    }
    case "chat": {
      const { client, rest: args } = parseClientFlags(rest, process.env);
      const controller = new AbortController();
      process.once("SIGINT", () => controller.abort());
      return chatCommand(client, args, { write: (text) => process.stdout.write(text), note: (line) => console.log(line) }, controller.signal);
    }
    case "sandbox": {
      const { client, rest: args } = parseClientFlags(rest, process.env);
      process.exitCode = await sandboxCommand(client, args, { out: (line) => console.log(line), err: (line) => console.error(line) });
      return;
    }
    case "stats": {
      const { client, rest: args } = parseClientFlags(rest, process.env);
      const controller = new AbortController();
      process.once("SIGINT", () => controller.abort());
      return statsCommand(client, parseStatsArgs(args), { write: (text) => process.stdout.write(text) }, controller.signal);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      return console.log(usage);
    default:
      throw new Error(`unknown command "${command}"\n\n${usage}`);
  }
}

/** Failures on the gateway's or a backend's side: for these the gateway's log says more, so the CLI names the request. */
const serverSideCodes: ReadonlySet<Code> = new Set([Code.Internal, Code.Unknown, Code.Unavailable, Code.DeadlineExceeded, Code.DataLoss]);

tolerateClosedOutput([process.stdout, process.stderr]);

main(process.argv.slice(2)).catch((error: unknown) => {
  // Ctrl-C during a streamed chat: the call was canceled on purpose.
  if (error instanceof ConnectError && error.code === Code.Canceled) process.exit(130);
  // ConnectError messages already start with the code, e.g. "[not_found] …".
  const message = error instanceof ConnectError || error instanceof Error ? error.message : String(error);
  const requestId = error instanceof ConnectError && serverSideCodes.has(error.code) ? requestIdOf(error) : null;
  console.error(`protogate: ${message}${requestId === null ? "" : ` (request ${requestId} in the gateway's log)`}`);
  process.exit(1);
});
