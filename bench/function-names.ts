/**
 * How many functions protogate makes per unary Chat that tsx then names
 * with `Object.defineProperty` (esbuild's `keepNames`): each such call is
 * a runtime call that also changes the function's hidden class, about
 * 3–4 % of the gateway's CPU at concurrency 32 for eight of them per
 * request (docs/benchmarks.md, "Functions made per request").
 *
 *   npx tsx bench/function-names.ts [--seconds 2]
 *
 * protogate runs in its own process with bench/function-names-preload.ts,
 * under a closed-loop load of unary Chats (concurrency 8) against the
 * fixed upstream; prints the calls per request by the line that made the
 * function. Slow by design (it takes a stack trace per call): the counts,
 * not the throughput, are the result.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runBenchScript } from "./child-processes.js";
import { protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { runClosedLoop } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
  const durationMs = Number(values.seconds) * 1000;
  const { url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
  const { child, url } = await startProtogateProcess(repoRoot, upstreamUrl, { preload: join(repoRoot, "bench", "function-names-preload.ts") });
  const target = protogateChatTarget(url);
  // Warm-up: whatever is made once (lazily, on first use) is not counted.
  await runClosedLoop(target, { concurrency: 8, durationMs, maxRequests: 10_000_000, settleMs: 0 });
  const lines: string[] = [];
  child.onLine((line) => {
    if (line.startsWith("NAMES ")) lines.push(line);
  });
  // Requests answered before the signal is handled count in the divisor only: a handful out of thousands.
  process.kill(child.pid, "SIGUSR1");
  const result = await runClosedLoop(target, { concurrency: 8, durationMs, maxRequests: 10_000_000, settleMs: 0 });
  process.kill(child.pid, "SIGUSR2");
  await child.waitForLine(/^NAMES end$/, 10_000);
  if (result.errors > 0) throw new Error(`${result.errors} failed requests; first: ${result.firstError ?? ""}`);
  console.log(`${result.requests} unary Chats; functions named per request, by the line that made them:`);
  let total = 0;
  for (const line of lines) {
    const match = /^NAMES (\d+) (.*)$/.exec(line);
    if (match === null) continue;
    const perRequest = Number(match[1]) / result.requests;
    total += perRequest;
    console.log(`  ${perRequest.toFixed(2)}  ${(match[2] ?? "").replace(repoRoot, "")}`);
  }
  console.log(`total: ${total.toFixed(2)} per request`);
}

runBenchScript(main);
