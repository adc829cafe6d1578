/**
 * protogate's throughput and CPU per request second by second, under the
 * same closed-loop load as bench:gateway, with the times of its full
 * garbage collections: does a gateway's cost per request stay put over a
 * minute, and if not, does its own garbage collector explain it?
 *
 *   npx tsx bench/throughput-timeline.ts [--seconds 60] [--concurrency 32] [--protogate-root DIR]
 *
 * protogate runs in its own process with V8's `--trace-gc`; the full
 * collections (Mark-Compact) of its main isolate are listed with the
 * second they happened in. See docs/benchmarks.md, "Where the processes
 * run, and cores that change speed".
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runBenchScript } from "./child-processes.js";
import { protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { runClosedLoop } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "60" },
      concurrency: { type: "string", default: "32" },
      "protogate-root": { type: "string" },
    },
  });
  const root = values["protogate-root"] === undefined ? repoRoot : resolve(values["protogate-root"]);
  const { url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
  const { child, url } = await startProtogateProcess(root, upstreamUrl, { nodeFlags: ["--trace-gc"] });
  const target = protogateChatTarget(url);
  const startedAt = performance.now();
  const elapsed = () => (performance.now() - startedAt) / 1000;
  const fullCollections: string[] = [];
  child.onLine((line) => {
    // Worker threads (the sandbox's checker, tsx's loader) print their own lines, so each names its isolate: in the
    // runs so far the main thread's was the one whose address did not start with 0x7f.
    const match = /\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: (Mark-Compact[^,]*,)/.exec(line);
    if (match !== null) fullCollections.push(`${elapsed().toFixed(1)} s (isolate ${match[1]}): ${match[2]}`);
  });
  console.log("second | requests | CPU µs per request");
  for (let second = 1; second <= Number(values.seconds); second++) {
    let cpuAtStart = 0;
    let cpuUsed = 0;
    const result = await runClosedLoop(target, {
      concurrency: Number(values.concurrency),
      durationMs: 1000,
      maxRequests: 1_000_000,
      settleMs: 0,
      onWindow(edge) {
        const now = child.cpuMicros() ?? Number.NaN;
        if (edge === "start") cpuAtStart = now;
        else cpuUsed = now - cpuAtStart;
      },
    });
    if (result.errors > 0) throw new Error(`failed requests: ${result.firstError ?? "?"}`);
    console.log(`${String(second).padStart(6)} | ${String(result.requests).padStart(8)} | ${(cpuUsed / Math.max(1, result.requests)).toFixed(0)}`);
  }
  console.log(`\nfull collections (second of the run, isolate): ${fullCollections.length === 0 ? "none" : ""}`);
  for (const line of fullCollections) console.log(`  ${line}`);
}

runBenchScript(main);
