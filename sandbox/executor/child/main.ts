/**
 * Entry of a sandbox process: receives runs over IPC, hosts one isolate per
 * run, forwards SDK calls and console lines to the parent, and answers with
 * the outcome. It exits when the parent goes away.
 *
 * argv[2] is the absolute path of isolated-vm's entry (the transpiled copy of
 * this file lives outside node_modules' resolution).
 */
import { createRequire } from "node:module";
import type ivmModule from "isolated-vm";
import { type ChildMessage, type ParentMessage, parseParentMessage } from "../protocol.js";
import { type IsolateRun, startIsolateRun } from "./isolate-run.js";

const ivmPath = process.argv[2];
if (ivmPath === undefined || process.send === undefined) {
  process.stderr.write("protogate sandbox: start me through the executor\n");
  process.exit(64);
}
const ivm = createRequire(import.meta.url)(ivmPath) as typeof ivmModule; // the CommonJS module's exports

const runs = new Map<number, IsolateRun>();

function send(message: ChildMessage): void {
  if (!process.connected) return;
  try {
    process.send?.(message);
  } catch {
    // the channel closed under us; "disconnect" ends this process
  }
}

function handle(message: ParentMessage): void {
  switch (message.t) {
    case "run": {
      if (runs.has(message.id)) return;
      const { id } = message;
      const run = startIsolateRun(ivm, message, {
        log: (level, text) => send({ t: "log", id, level, text }),
        logsDropped: () => send({ t: "logs-dropped", id }),
        sdkCall: (callId, service, method, requestJson) =>
          send({ t: "sdk-call", id, callId, service, method, requestJson }),
      });
      runs.set(id, run);
      void run.outcome.then((outcome) => {
        runs.delete(id);
        send({ t: "done", id, outcome });
      });
      return;
    }
    case "sdk-result":
      runs.get(message.id)?.deliver(message.callId, message.reply);
      return;
    case "cancel":
      runs.get(message.id)?.cancel();
      return;
  }
}

process.on("message", (raw: unknown) => {
  const message = parseParentMessage(raw);
  if (message !== undefined) handle(message);
});
process.on("disconnect", () => process.exit(0));
send({ t: "ready" });
