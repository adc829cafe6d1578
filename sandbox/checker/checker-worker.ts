/**
 * The checker's worker thread: builds the engine, warms it with a typical
 * snippet (so the first real check is warm), then answers checks one by one.
 * A check that takes too long is stopped by terminating this thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createCheckEngine } from "./check-engine.js";
import type { CheckerWorkerData, CheckRequest, WorkerReply } from "./worker-protocol.js";

const port = parentPort;
if (port === null) throw new Error("checker-worker.ts must run as a worker thread");

const reply = (message: WorkerReply) => port.postMessage(message);

const warmUp = [
  'const r = await gateway.inference.chat({ model: "m", messages: [{ role: "ROLE_USER", content: "hi" }] });',
  'const x: number = "wrong";',
  "return r.message?.content;",
].join("\n");

try {
  const engine = createCheckEngine(workerData as CheckerWorkerData);
  engine.check(warmUp);
  port.on("message", (request: CheckRequest) => {
    try {
      reply({ kind: "checked", id: request.id, diagnostics: engine.check(request.code) });
    } catch (error) {
      reply({ kind: "failed", id: request.id, message: error instanceof Error ? error.message : String(error) });
    }
  });
  reply({ kind: "ready" });
} catch (error) {
  reply({ kind: "fatal", message: error instanceof Error ? error.message : String(error) });
}
