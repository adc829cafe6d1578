/**
 * What one unary Chat allocates and how many promises it makes, in
 * protogate and in the contract proxy (bench/contract-proxy.ts, the same
 * contract with none of protogate's plumbing), measured in ONE process
 * with the fixed upstream and the client beside them (their share is the
 * same in both rows, so the difference is the servers').
 *
 *   npx tsx bench/request-allocations.ts [--requests 5000] [--top 25]
 *
 * Unlike CPU time, which swings by ±20 % between runs on a shared 2-core
 * VM (docs/benchmarks.md), these counts repeat to within a few per cent,
 * so a change that removes work shows up here even when the CPU
 * benchmarks cannot resolve it:
 * - bytes per request: V8's sampling heap profiler, counting objects
 *   that were already collected too (`includeObjectsCollectedByMinorGC`),
 *   so it is everything allocated, not what survived;
 * - promises per request: every promise created (`v8.promiseHooks`);
 * - the functions that allocate most in the server (with V8's inlining,
 *   a function's count includes what it inlined).
 */
import type { HeapProfiler } from "node:inspector";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { promiseHooks } from "node:v8";
import { defaultObservability, resolveConfig } from "../server/config/resolved-config.js";
import { startGateway } from "../server/gateway.js";
import { startContractProxy } from "./contract-proxy.js";
import { FIXED_CONTENT, FIXED_MODEL, startFixedUpstream } from "./fixed-upstream.js";
import { type LoadTarget, runClosedLoop } from "./load-generator.js";

/** One node of a sampling heap profile (the parts read here). */
interface HeapProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

/** A script URL as a short name: a path in this repository, a package, or a Node internal. */
function shortUrl(url: string): string {
  if (url === "") return "(native)";
  const inRepo = url.match(/\/(server|bench|gen|sdk)\/.*$/);
  if (inRepo !== null && !url.includes("node_modules")) return inRepo[0].slice(1);
  const inPackage = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  return inPackage?.[1] ?? url;
}

/** Bytes allocated per function while `run` runs. */
async function sampleAllocations(run: () => Promise<unknown>): Promise<Map<string, number>> {
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.enable");
    // The two include… flags are in V8's protocol but not (yet) in @types/node's.
    const sampling: HeapProfiler.StartSamplingParameterType & { includeObjectsCollectedByMajorGC: boolean; includeObjectsCollectedByMinorGC: boolean } = {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    };
    await session.post("HeapProfiler.startSampling", sampling);
    await run();
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: HeapProfileNode } };
    const byFunction = new Map<string, number>();
    const walk = (node: HeapProfileNode) => {
      const key = `${node.callFrame.functionName || "(anonymous)"} ${shortUrl(node.callFrame.url)}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
      for (const child of node.children) walk(child);
    };
    walk(profile.head);
    return byFunction;
  } finally {
    session.disconnect();
  }
}

/** Promises created while `run` runs. */
async function countPromises(run: () => Promise<unknown>): Promise<number> {
  let created = 0;
  const stop = promiseHooks.onInit(() => {
    created++;
  });
  try {
    await run();
  } finally {
    stop();
  }
  return created;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: "string", default: "5000" }, top: { type: "string", default: "25" } } });
  const requests = Number(values.requests);
  const upstream = await startFixedUpstream();
  const contract = await startContractProxy(upstream.url);
  // What `protogate serve --backend openai=URL` runs, with the request log off (its lines would go to this terminal).
  const config = resolveConfig(undefined, { configPath: undefined, host: "127.0.0.1", port: 0, backends: [{ kind: "openai", url: upstream.url }] }, {});
  const gateway = await startGateway({ ...config, observability: { ...defaultObservability, requestLog: false } });
  const body = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: "hi" }] }));
  const targets: Array<[string, LoadTarget]> = [
    ["contract proxy", { url: `${contract.url}/`, headers: {}, body, expectInBody: FIXED_CONTENT }],
    ["protogate", { url: `${gateway.url}/protogate.v1.InferenceService/Chat`, headers: {}, body, expectInBody: FIXED_CONTENT }],
  ];
  try {
    const rows: string[] = [];
    let serverSites: Map<string, number> | undefined;
    for (const [name, target] of targets) {
      // V8 needs thousands of calls before the hot paths are optimised (and allocate as they will from then on).
      await runClosedLoop(target, { concurrency: 8, durationMs: 4000, maxRequests: 1_000_000, settleMs: 0 });
      const load = async () => {
        const result = await runClosedLoop(target, { concurrency: 8, durationMs: 600_000, maxRequests: requests, settleMs: 0 });
        if (result.errors > 0 || result.requests !== requests) throw new Error(`${name}: ${result.firstError ?? "requests failed"}`);
      };
      const allocations = await sampleAllocations(load);
      const promises = await countPromises(load);
      const bytes = [...allocations.values()].reduce((sum, value) => sum + value, 0);
      rows.push(`| ${name} | ${(bytes / requests / 1024).toFixed(1)} | ${(promises / requests).toFixed(1)} |`);
      if (name === "protogate") serverSites = allocations;
    }
    console.log("| in one process, with the client and the upstream | KB allocated per request | promises per request |");
    console.log("| --- | ---: | ---: |");
    for (const row of rows) console.log(row);
    console.log(`\nprotogate: the ${values.top} functions of server/ and the packages that allocate most, bytes per request`);
    const own = [...(serverSites ?? new Map<string, number>())].filter(([key]) => !key.includes(" node:") && !key.includes("bench/") && !key.endsWith("(native)"));
    for (const [key, size] of own.sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
      console.log(`${(size / requests).toFixed(0).padStart(7)}  ${key}`);
    }
  } finally {
    await gateway.close();
    await contract.close();
    await upstream.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
