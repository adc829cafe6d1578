/**
 * The code sandbox's costs, in one process (gateway, checker worker, pool
 * of sandbox processes, client):
 *
 *   npx tsx bench/sandbox.ts [--iterations 200] [--rounds 5] [--out FILE.json]
 *
 * - cold start: a new checker until its first result; a new pool until its
 *   first run; a new gateway (sandbox started on first use) until its first
 *   Execute answered over RPC
 * - Check, warm: the long-lived checker (a TypeScript LanguageService in a
 *   worker), p50/p99, through the API and as a Connect RPC
 * - the same checks with a fresh TypeScript program built per check (the
 *   common approach; also with the lib files parsed once and reused), in
 *   the same run; the ratio of the p50s
 * - Execute: check + fresh isolate + one SDK call (`listModels`, served
 *   in-process), p50/p99, through the API and as a Connect RPC
 * - 20 concurrent Executes over RPC: wall time of the batch, per-run p50/p99,
 *   with two checker workers (the default above two cores) and, in the same
 *   run, with one (the default on two cores or fewer)
 * - memory: RSS of each sandbox process (idle and after the concurrent
 *   batch), and the gateway process's RSS growth when the checker starts
 *   (all its workers)
 *
 * Warm means warm: before the warm measurements the run waits a few
 * seconds, so the checkers' workers have started and finished their
 * idle-time warm-up, as they have in a gateway that was started with
 * `prestart` before its first request.
 *
 * Prints a Markdown table and writes the numbers to
 * bench/results/sandbox-<date>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createRouterTransport } from "@connectrpc/connect";
import ts from "typescript";
import { compilerOptions as checkerCompilerOptions, consoleDeclarations } from "../sandbox/checker/check-engine.js";
import { createTypeScriptChecker, defaultCheckerWorkers } from "../sandbox/checker/index.js";
import { wrapUserCode } from "../sandbox/checker/wrap-user-code.js";
import { createSandboxExecutor } from "../sandbox/executor/index.js";
import { configDefaults, defaultObservability } from "../server/config/resolved-config.js";
import { embeddedSandboxSettings } from "../server/config/sandbox-settings.js";
import { startGateway } from "../server/gateway.js";
import { createLogger, silentLogger } from "../server/log/logger.js";
import { createSandboxSdk, loadGatewayDescriptors } from "../server/sandbox/index.js";
import { createProtogateClient, SandboxOutcome } from "../sdk/index.js";
import { percentile } from "./load-generator.js";

const { values: flags } = parseArgs({
  options: {
    iterations: { type: "string", default: "200" },
    rounds: { type: "string", default: "5" },
    out: { type: "string" },
  },
});
const iterations = Number(flags.iterations);
const rounds = Number(flags.rounds);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A 20-line program like the ones agents write; `i` varies it so no result can be reused. */
function checkSnippet(i: number): string {
  return [
    "const { models } = await gateway.models.listModels({});",
    "const loaded = models.filter((m) => m.state === \"MODEL_STATE_LOADED\");",
    `const target = loaded[0]?.id ?? models[0]?.id ?? "model-${i}";`,
    "const answer = await gateway.inference.chat({",
    "  model: target,",
    "  messages: [",
    '    { role: "ROLE_SYSTEM", content: "Answer briefly." },',
    `    { role: "ROLE_USER", content: "Question number ${i}" },`,
    "  ],",
    "  sampling: { temperature: 0.2, maxTokens: 64 },",
    "});",
    "const calls = answer.message?.toolCalls ?? [];",
    "let text = answer.message?.content ?? \"\";",
    "for (const call of calls) {",
    "  text += `\\n${call.name}(${call.arguments})`;",
    "}",
    "const usage = answer.usage;",
    `console.log("run ${i}", usage?.totalTokens ?? 0);`,
    "return { text, tokens: usage?.totalTokens ?? 0, finish: answer.finishReason };",
  ].join("\n");
}

/** One SDK call, varied per run. */
function executeSnippet(i: number): string {
  return `const { models } = await gateway.models.listModels({});\nreturn { run: ${i}, models: models.length };`;
}

interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
}

/** Lets the checkers' workers start and warm up (about a second of CPU each) before anything warm is measured. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 4000));

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const value = await work();
  return [performance.now() - start, value];
}

function rssMb(pid: number | "self"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * The common approach: a new TypeScript program per check, with a standard
 * compiler host (lib files read and parsed every time, or, with `cacheLibs`,
 * parsed once and reused), the same options, declarations and wrapping as
 * the sandbox checker.
 */
function createFreshProgramChecker(declarations: string, cacheLibs: boolean): (code: string) => number {
  const libCache = new Map<string, ts.SourceFile | undefined>();
  const options = checkerCompilerOptions;
  return (code) => {
    const files = new Map([
      ["/sandbox/sdk.d.ts", declarations],
      ["/sandbox/console.d.ts", consoleDeclarations],
      ["/sandbox/main.ts", wrapUserCode(code)],
    ]);
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
      const text = files.get(fileName);
      if (text !== undefined) return ts.createSourceFile(fileName, text, languageVersion, true);
      if (!cacheLibs) return getSourceFile(fileName, languageVersion, onError, shouldCreate);
      if (!libCache.has(fileName)) libCache.set(fileName, getSourceFile(fileName, languageVersion, onError, shouldCreate));
      return libCache.get(fileName);
    };
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
    const readFile = host.readFile.bind(host);
    host.readFile = (fileName) => files.get(fileName) ?? readFile(fileName);
    const program = ts.createProgram([...files.keys()], options, host);
    return ts.getPreEmitDiagnostics(program).length;
  };
}

/** The main gateway's checker workers: the pool machines above two cores get by default, compared below with one. */
const pooledCheckerWorkers = 2;

/** A gateway without backends whose sandbox starts on first use, once it has answered one Execute. */
async function startBenchGateway(checkerWorkers: number) {
  const gateway = await startGateway(
    {
      host: "127.0.0.1",
      port: 0,
      backends: [],
      aliases: [],
      maxRequestBytes: configDefaults.maxRequestBytes,
      maxBackendResponseBytes: configDefaults.maxBackendResponseBytes,
      maxTimeoutMs: configDefaults.maxTimeoutMs,
      shutdownGraceMs: 2000,
      discoveryIntervalMs: configDefaults.discoveryIntervalMs,
      observability: { ...defaultObservability, requestLog: false },
      sandbox: { ...embeddedSandboxSettings, checkerWorkers, maxPendingRuns: 1000 },
    },
    silentLogger,
  );
  const client = createProtogateClient({ baseUrl: gateway.url });
  const run = await client.sandbox.execute({ code: executeSnippet(-1) });
  if (run.outcome !== SandboxOutcome.OK) throw new Error(`first Execute failed: ${JSON.stringify(run)}`);
  return { gateway, client };
}

interface ConcurrentSummary {
  readonly batchWallMs: Summary;
  readonly perRunMs: Summary;
  readonly runsPerSecond: number;
}

/** `rounds` batches of 20 Execute RPCs sent at once. */
async function concurrentBatches(client: ReturnType<typeof createProtogateClient>, rounds: number): Promise<ConcurrentSummary> {
  const latencies: number[] = [];
  const batchWall: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        timed(async () => {
          const run = await client.sandbox.execute({ code: executeSnippet(round * 100 + i + 700_000) });
          if (run.outcome !== SandboxOutcome.OK) throw new Error(`concurrent run failed: ${JSON.stringify(run)}`);
        }),
      ),
    );
    batchWall.push(performance.now() - start);
    latencies.push(...runs.map(([ms]) => ms));
  }
  return {
    batchWallMs: summarize(batchWall),
    perRunMs: summarize(latencies),
    runsPerSecond: Math.round((20 * rounds) / (batchWall.reduce((a, b) => a + b, 0) / 1000)),
  };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const descriptors = loadGatewayDescriptors();
  const emptyTransport = createRouterTransport(() => undefined);
  const sdk = createSandboxSdk({ gateway: descriptors, gatewayTransport: emptyTransport, operators: [], allowedMethods: [] });
  const declarations = sdk.surface.declarations;
  const results: Record<string, unknown> = {};

  // --- cold start ---
  const rssBeforeChecker = rssMb("self");
  const [checkerCold, firstCheck] = await timed(async () => {
    const checker = createTypeScriptChecker({ declarations, docs: sdk.surface.docs });
    const result = await checker.check(checkSnippet(-1));
    return { checker, result };
  });
  if (firstCheck.result.kind !== "ok") throw new Error(`the benchmark snippet does not check: ${JSON.stringify(firstCheck.result)}`);
  const checker = firstCheck.checker;
  for (let i = 0; i < 20; i++) await checker.check(checkSnippet(1_000_000 + i));
  await settle();
  const checkerRssGrowth = Math.round((rssMb("self") - rssBeforeChecker) * 10) / 10;

  const [executorCold] = await timed(async () => {
    const executor = createSandboxExecutor({ poolSize: 2 });
    const result = await executor.execute({ code: "return 1;", services: {}, callSdk: async () => ({ kind: "ok", responseJson: "{}" }) });
    if (result.kind !== "ok") throw new Error("cold executor run failed");
    await executor.close();
  });

  const [gatewayCold, gatewayCtx] = await timed(() => startBenchGateway(pooledCheckerWorkers));
  const { gateway, client } = gatewayCtx;
  await settle();
  results["coldStartMs"] = {
    checkerFirstResult: Math.round(checkerCold),
    executorFirstRun: Math.round(executorCold),
    gatewayStartToFirstExecuteRpc: Math.round(gatewayCold),
  };

  // --- warm Check: API, RPC, and a fresh program per check ---
  const freshCheck = createFreshProgramChecker(declarations, false);
  const cachedLibCheck = createFreshProgramChecker(declarations, true);
  if (freshCheck(checkSnippet(-2)) !== 0 || cachedLibCheck(checkSnippet(-3)) !== 0) {
    throw new Error("the fresh-program checker finds errors the sandbox checker does not");
  }
  const warmApi: number[] = [];
  const warmRpc: number[] = [];
  const fresh: number[] = [];
  const cachedLib: number[] = [];
  const freshIterations = Math.max(20, Math.round(iterations / 4));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < iterations / rounds; i++) {
      const n = round * iterations + i;
      warmApi.push((await timed(() => checker.check(checkSnippet(n))))[0]);
      warmRpc.push((await timed(() => client.sandbox.check({ code: checkSnippet(n + 500_000) })))[0]);
    }
    for (let i = 0; i < freshIterations / rounds; i++) {
      const start = performance.now();
      freshCheck(checkSnippet(900_000 + round * freshIterations + i));
      fresh.push(performance.now() - start);
      const cachedStart = performance.now();
      cachedLibCheck(checkSnippet(950_000 + round * freshIterations + i));
      cachedLib.push(performance.now() - cachedStart);
    }
  }
  const warmApiSummary = summarize(warmApi);
  const freshSummary = summarize(fresh);
  results["checkWarmApiMs"] = warmApiSummary;
  results["checkWarmRpcMs"] = summarize(warmRpc);
  const cachedLibSummary = summarize(cachedLib);
  results["checkFreshProgramMs"] = freshSummary;
  results["checkFreshProgramCachedLibsMs"] = cachedLibSummary;
  results["freshOverWarmP50"] = Math.round((freshSummary.p50 / warmApiSummary.p50) * 10) / 10;
  results["freshCachedLibsOverWarmP50"] = Math.round((cachedLibSummary.p50 / warmApiSummary.p50) * 10) / 10;
  await checker.close();

  // --- Execute: check + fresh isolate + one SDK call ---
  const sandbox = gateway.sandbox;
  if (sandbox === undefined) throw new Error("the gateway has no sandbox");
  const executeApi: number[] = [];
  const executeRpc: number[] = [];
  for (let i = 0; i < iterations; i++) {
    executeApi.push(
      (
        await timed(async () => {
          const run = await sandbox.execute({ code: executeSnippet(i), caller: "bench", via: "rpc" });
          if (run.kind !== "ok") throw new Error(`run failed: ${JSON.stringify(run)}`);
        })
      )[0],
    );
    executeRpc.push(
      (
        await timed(async () => {
          const run = await client.sandbox.execute({ code: executeSnippet(i + 500_000) });
          if (run.outcome !== SandboxOutcome.OK) throw new Error(`run failed: ${JSON.stringify(run)}`);
        })
      )[0],
    );
  }
  results["executeApiMs"] = summarize(executeApi);
  results["executeRpcMs"] = summarize(executeRpc);
  const pids = sandbox.stats()?.pids ?? [];
  results["sandboxProcessRssIdleMb"] = pids.map((pid) => rssMb(pid));

  // --- 20 concurrent Executes over RPC, with two checker workers and with one ---
  results["concurrent20"] = await concurrentBatches(client, rounds);
  results["sandboxProcessRssAfterConcurrentMb"] = pids.map((pid) => rssMb(pid));
  results["checkerRssGrowthMb"] = checkerRssGrowth;
  await gateway.close();
  const single = await startBenchGateway(1);
  await settle();
  results["concurrent20OneCheckerWorker"] = await concurrentBatches(single.client, rounds);
  await single.gateway.close();

  const environment = {
    checkerWorkers: pooledCheckerWorkers,
    defaultCheckerWorkers: defaultCheckerWorkers(),
    node: process.version,
    typescript: ts.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    iterations,
    rounds,
    // The 1-minute load average before and after: these numbers are only comparable on a quiet machine.
    loadAverage: { before: Math.round(loadBefore * 100) / 100, after: Math.round((loadavg()[0] ?? 0) * 100) / 100 },
    date: new Date().toISOString(),
  };
  const out = flags.out ?? join(root, "bench", "results", `sandbox-${environment.date.slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ environment, results }, null, 2)}\n`);

  const row = (name: string, s: Summary) => `| ${name} | ${s.p50} | ${s.p99} | ${s.n} |`;
  const concurrent = results["concurrent20"] as ConcurrentSummary;
  const concurrentOne = results["concurrent20OneCheckerWorker"] as ConcurrentSummary;
  const cold = results["coldStartMs"] as Record<string, number>;
  const lines = [
    "| measurement | p50 ms | p99 ms | n |",
    "|---|---:|---:|---:|",
    row("Check, warm (checker API)", warmApiSummary),
    row("Check, warm (Connect RPC)", results["checkWarmRpcMs"] as Summary),
    row("Check, fresh TypeScript program per check", freshSummary),
    row("Check, fresh program per check, lib files parsed once", cachedLibSummary),
    row("Execute: check + fresh isolate + 1 SDK call (API)", results["executeApiMs"] as Summary),
    row("Execute: check + fresh isolate + 1 SDK call (Connect RPC)", results["executeRpcMs"] as Summary),
    row(`20 concurrent Executes (RPC), ${environment.checkerWorkers} checker workers: per run`, concurrent.perRunMs),
    row(`20 concurrent Executes (RPC), ${environment.checkerWorkers} checker workers: whole batch`, concurrent.batchWallMs),
    row("20 concurrent Executes (RPC), 1 checker worker: per run", concurrentOne.perRunMs),
    row("20 concurrent Executes (RPC), 1 checker worker: whole batch", concurrentOne.batchWallMs),
    "",
    `fresh program / warm checker (p50): **${String(results["freshOverWarmP50"])}×** (lib files parsed once: ${String(results["freshCachedLibsOverWarmP50"])}×); 20-concurrent throughput: ${concurrent.runsPerSecond} runs/s (${concurrentOne.runsPerSecond} with 1 checker worker)`,
    `cold start: checker first result ${cold["checkerFirstResult"]} ms; pool first run ${cold["executorFirstRun"]} ms; gateway start → first Execute RPC ${cold["gatewayStartToFirstExecuteRpc"]} ms`,
    `memory: sandbox process RSS idle ${(results["sandboxProcessRssIdleMb"] as number[]).join(" / ")} MB, after the concurrent batch ${(results["sandboxProcessRssAfterConcurrentMb"] as number[]).join(" / ")} MB; gateway RSS growth when the checker (${environment.checkerWorkers} workers) starts ${checkerRssGrowth} MB`,
    `environment: Node ${environment.node}, TypeScript ${environment.typescript}, ${environment.cpus}× ${environment.cpuModel}, load average ${environment.loadAverage.before} before / ${environment.loadAverage.after} after; results in ${out}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

// The gateway logs nothing here; a failure is printed and the run exits 1.
main().catch((error: unknown) => {
  createLogger().error("sandbox benchmark failed", { error });
  process.exit(1);
});
