/**
 * The checker's worker thread: builds the engine, warms it with a typical
 * snippet (so the first real check is warm), then answers checks one by one.
 * A check that takes too long is stopped by terminating this thread.
 *
 * After it reports ready, the worker keeps warming up while it is idle:
 * about 100 checks of typical code (under a second of CPU), so that V8 has
 * optimized TypeScript's hot paths before real checks need them; without
 * it, the first 50–100 checks take about twice as long as later ones. A
 * real check that arrives meanwhile waits for at most one warm-up check.
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

/**
 * Idle-time warm-up, about 100 checks: mostly typical programs that check
 * (what most checks are, so V8 optimizes for them), and in turn each of a
 * few wrong ones (unknown member, wrong types, a forbidden call) for the
 * help paths. `i` varies them, so each is a new program.
 */
const idleWarmUp = (i: number): string[] => [
  [
    "const { models } = await gateway.models.listModels({});",
    'const loaded = models.filter((m) => m.state === "MODEL_STATE_LOADED").map((m) => m.id);',
    `const answer = await gateway.inference.chat({ model: loaded[0] ?? "m${i}", messages: [{ role: "ROLE_USER", content: "q" }] });`,
    'let text = answer.message?.content ?? "";',
    "for (const call of answer.message?.toolCalls ?? []) text += call.name;",
    'console.log(text, answer.usage?.totalTokens ?? 0, new Map([[1, "a"]]).size);',
    "return { text, finish: answer.finishReason };",
  ].join("\n"),
  [
    "let found: string | undefined;",
    "try {",
    `  const { model } = await gateway.models.getModel({ model: "m${i}" });`,
    "  found = model?.id;",
    "} catch (e) {",
    '  if (!(e instanceof SdkError) || e.code !== "not_found") throw e;',
    "}",
    "const counts = new Map<string, number>();",
    `for (const word of "a b a ${i}".split(" ")) counts.set(word, (counts.get(word) ?? 0) + 1);`,
    "const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${w}:${n}`);",
    "return JSON.stringify({ found, top, total: top.reduce((n, s) => n + s.length, 0) });",
  ].join("\n"),
  [
    `const m = await gateway.models.list();\nreturn m.text.toUpperCase() + ${i};`,
    `return await gateway.inference.chat({ model: ${i}, messages: [{ role: "user", content: "hi" }], max_tokens: 5 });`,
    `try {\n  return eval("${i}");\n} catch (e) {\n  return e.message;\n}`,
  ][i % 3] ?? "",
];
const idleWarmUpRounds = 34;

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
  // One warm-up check per turn of the event loop, so a request that arrives is answered next.
  const pending = Array.from({ length: idleWarmUpRounds }, (_, i) => idleWarmUp(i)).flat();
  const warmNext = () => {
    const code = pending.shift();
    if (code === undefined) return;
    try {
      engine.check(code);
    } catch {
      // An engine bug: a real check reports it as `failed`; warming up stops here.
      return;
    }
    setImmediate(warmNext);
  };
  setImmediate(warmNext);
} catch (error) {
  reply({ kind: "fatal", message: error instanceof Error ? error.message : String(error) });
}
