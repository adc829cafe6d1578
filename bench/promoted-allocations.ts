/**
 * Where the objects come from that outlive the young generation in
 * protogate under load: the allocation stacks of what scavenges promote.
 * `bench/gc-pressure.ts` says how many bytes a request leaves to be
 * promoted; this says which code allocated them.
 *
 *   npx tsx bench/promoted-allocations.ts [--concurrency 32] [--seconds 6] [--warmup-seconds 8] [--top 12] [--protogate-root DIR]
 *
 * protogate runs in its own process with bench/heap-sampling-preload.ts,
 * which runs V8's sampling heap profiler over the measured window and
 * keeps only samples that no scavenge freed (promoted, or still alive at
 * the end), under the same closed-loop load as bench:gateway. Prints the
 * sampled bytes per request and the allocation sites that hold most of
 * them, each with the frames that called it.
 *
 * How it found the Set of running calls: its samples were whole calls
 * (`RunningUnaryCall`, its `Headers`, Node's request and response, the
 * parsed message), allocated when a request started, though a request
 * lasts far less than the time between two scavenges (docs/benchmarks.md).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchChild, runBenchScript, stopAllChildren } from "./child-processes.js";
import { protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { runClosedLoop } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** One node of V8's sampling heap profile (`HeapProfiler.stopSampling`). */
interface SamplingNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly SamplingNode[];
}

/** One allocation site: the innermost frame, the bytes sampled there and its heaviest caller chain. */
interface Site {
  readonly frame: string;
  bytes: number;
  readonly stacks: Map<string, number>;
}

/** `name file:line` for a frame, with paths shortened to the repository or the package. */
function frameLabel(frame: SamplingNode["callFrame"]): string {
  const url = frame.url
    .replace(/^file:\/\/\/?/, "/")
    .replace(/^.*\/node_modules\//, "")
    .replace(`${repoRoot.replace(/\/$/, "")}/`, "");
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  return url === "" ? name : `${name} ${url}:${frame.lineNumber + 1}`;
}

/** Sums self sizes by allocating frame, keeping each site's caller chains (up to `depth` frames). */
export function allocationSites(head: SamplingNode, depth = 5): { readonly total: number; readonly sites: Site[] } {
  const sites = new Map<string, Site>();
  let total = 0;
  const walk = (node: SamplingNode, callers: readonly string[]) => {
    const label = frameLabel(node.callFrame);
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = sites.get(label) ?? { frame: label, bytes: 0, stacks: new Map<string, number>() };
      site.bytes += node.selfSize;
      const chain = callers.slice(-depth).reverse().join(" ← ");
      site.stacks.set(chain, (site.stacks.get(chain) ?? 0) + node.selfSize);
      sites.set(label, site);
    }
    for (const child of node.children) walk(child, label === "(root)" ? callers : [...callers, label]);
  };
  walk(head, []);
  return { total, sites: [...sites.values()].sort((a, b) => b.bytes - a.bytes) };
}

/** Sends a command to the preload and waits for its answer. */
function command(child: BenchChild, message: object, expected: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (reply: { kind: string; message?: string }) => {
      child.process.off("message", onMessage);
      if (reply.kind === expected) resolvePromise();
      else reject(new Error(`heap sampling: ${reply.message ?? reply.kind}`));
    };
    child.process.on("message", onMessage);
    child.process.send(message);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", default: "32" },
      seconds: { type: "string", default: "6" },
      "warmup-seconds": { type: "string", default: "8" },
      top: { type: "string", default: "12" },
      "interval-bytes": { type: "string", default: "2048" },
      "protogate-root": { type: "string", default: repoRoot },
    },
  });
  const concurrency = Number(values.concurrency);
  const protogateRoot = resolve(values["protogate-root"]);
  const scratch = mkdtempSync(join(tmpdir(), "protogate-heap-sampling-"));
  const profilePath = join(scratch, "promoted.heapprofile");
  try {
    const { url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
    const preload = join(repoRoot, "bench", "heap-sampling-preload.ts");
    const { child, url } = await startProtogateProcess(protogateRoot, upstreamUrl, { preload, ipc: true });
    const target = protogateChatTarget(url);
    // As in bench:gateway: V8 optimises the hot paths over the first thousands of requests.
    await runClosedLoop(target, { concurrency: 32, durationMs: Number(values["warmup-seconds"]) * 1000, maxRequests: 10_000_000, settleMs: 0 });
    await command(child, { kind: "start", intervalBytes: Number(values["interval-bytes"]) }, "started");
    const result = await runClosedLoop(target, { concurrency, durationMs: Number(values.seconds) * 1000, maxRequests: 10_000_000, settleMs: 0 });
    await command(child, { kind: "stop", out: profilePath }, "stopped");
    if (result.errors > 0) throw new Error(`${result.errors} failed requests; first: ${result.firstError ?? ""}`);

    const profile = JSON.parse(readFileSync(profilePath, "utf8")) as { head: SamplingNode };
    const { total, sites } = allocationSites(profile.head);
    console.log(
      `protogate at concurrency ${concurrency}: ${result.requests} requests in ${values.seconds} s; ` +
        `${Math.round(total / result.requests)} B per request sampled that no scavenge freed (promoted, or alive at the end)`,
    );
    console.log("\n| share | B/req | allocated by | called from (innermost first) |\n| ---: | ---: | --- | --- |");
    for (const site of sites.slice(0, Number(values.top))) {
      const [chain = ""] = [...site.stacks.entries()].sort((a, b) => b[1] - a[1]).map(([text]) => text);
      console.log(`| ${((100 * site.bytes) / total).toFixed(1)} % | ${Math.round(site.bytes / result.requests)} | ${site.frame} | ${chain} |`);
    }
  } finally {
    await stopAllChildren();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runBenchScript(main);
}
