/**
 * What a request log line costs, by how it is written: discarded (the
 * cost of building it), through SonicBoom's own batching (`minLength`
 * 4096, as protogate wrote its log before), and through
 * server/observability/line-batcher.ts in front of SonicBoom (as now).
 * Each variant runs in a child process whose stderr is a pipe this process
 * reads and drops, as a log collector would; the child writes 200 000
 * request lines, 32 per macrotask like a busy server, and reports its CPU.
 *
 *   npx tsx bench/request-log-cost.ts [--lines 200000] [--rounds 3]
 *
 * Prints CPU µs per line by variant (median of rounds, alternating).
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { createLineBatcher } from "../server/observability/line-batcher.js";
import { createRequestLogger, logBatchChars, logFlushIntervalMs } from "../server/observability/request-logger.js";
import { runBenchScript, startChild } from "./child-processes.js";
import { median } from "./load-generator.js";

const variants = {
  discard: "discarded (building the line only)",
  "sonic-boom-4096": "SonicBoom batching, minLength 4096 (before)",
  "line-batcher": `line batcher, ${logBatchChars} characters, then SonicBoom (now)`,
} as const;
type Variant = keyof typeof variants;

/** The child: writes `lines` request lines through `variant` and prints its CPU µs per line. */
async function writeLines(variant: Variant, lines: number): Promise<void> {
  const destination =
    variant === "discard"
      ? { write: () => true }
      : variant === "sonic-boom-4096"
        ? pino.destination({ dest: 2, sync: false, minLength: 4096, periodicFlush: logFlushIntervalMs })
        : createLineBatcher(pino.destination({ dest: 2, sync: false, minLength: 0 }), { batchChars: logBatchChars, flushIntervalMs: logFlushIntervalMs });
  const { logRequest } = createRequestLogger({ destination });
  const entry = {
    requestId: "7f3a9c1e5b2d4f60a8c1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    service: "protogate.v1.InferenceService",
    method: "Chat",
    model: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    backend: "openai",
    code: "ok" as const,
    durationMs: 2.345,
    upstreamMs: 1.234,
    ttftMs: 2.3,
    tokensIn: 12,
    tokensOut: 9,
    retries: 0,
  };
  const before = process.cpuUsage();
  let written = 0;
  await new Promise<void>((resolve) => {
    const step = () => {
      for (let i = 0; i < 32 && written < lines; i++, written++) logRequest(entry);
      if (written < lines) setImmediate(step);
      else resolve();
    };
    step();
  });
  const cpu = process.cpuUsage(before);
  process.stdout.write(`result ${(cpu.user + cpu.system) / lines}\n`);
}

/** Runs one variant in a child process (startChild reads its stderr: the log collector) and returns its CPU µs per line. */
async function runChild(variant: Variant, lines: number): Promise<number> {
  const args = ["--import", "tsx", fileURLToPath(import.meta.url), "--child", variant, "--lines", String(lines)];
  const child = startChild(variant, process.execPath, args, { cwd: process.cwd() });
  const [, cpuMicrosPerLine] = await child.waitForLine(/^result (\S+)$/, 120_000);
  await child.stop();
  return Number(cpuMicrosPerLine);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { lines: { type: "string", default: "200000" }, rounds: { type: "string", default: "3" }, child: { type: "string" } },
  });
  const lines = Number(values.lines);
  if (values.child !== undefined) return writeLines(values.child as Variant, lines);
  const results = new Map<Variant, number[]>(Object.keys(variants).map((name) => [name as Variant, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [variant, costs] of results) costs.push(await runChild(variant, lines));
  }
  console.log(`${lines} request lines per child, stderr a pipe read by this process, Node ${process.version}`);
  console.log("| written | CPU µs per line (median) | range |");
  console.log("| --- | ---: | ---: |");
  for (const [variant, costs] of results) {
    console.log(`| ${variants[variant]} | ${median(costs).toFixed(2)} | ${Math.min(...costs).toFixed(2)}–${Math.max(...costs).toFixed(2)} |`);
  }
}

runBenchScript(main);
