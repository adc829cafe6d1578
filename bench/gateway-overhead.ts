/**
 * Gateway overhead benchmark: a fixed-response OpenAI-compatible upstream,
 * loaded directly, through a bare node:http proxy (the floor for any Node
 * gateway, bench/bare-proxy.ts), through the same proxy speaking
 * protogate's contract (bench/contract-proxy.ts), through protogate
 * (Connect JSON unary) and through Portkey's gateway, at several
 * concurrencies, in one run.
 *
 *   bash bench/peers/install-portkey.sh     # once
 *   npm run bench:gateway                   # = npx tsx bench/gateway-overhead.ts
 *   npm run bench:gateway -- --seconds 2 --rounds 1 --targets direct,protogate --cpu-prof
 *
 * Processes: the upstream, the two proxies, protogate and Portkey each run in their own Node
 * process; this process is the load generator (and does nothing else while
 * a window is measured). Where the cores allow it, every server under test
 * is pinned to one core of its own and the load generator and upstream to
 * the others (bench/cpu-placement.ts; `--cpu-placement shared` to not).
 * Measurements are interleaved: every round loads
 * each target at each concurrency in turn, so slow drifts of a noisy
 * machine hit all targets alike. Prints a Markdown table and writes the
 * raw results to bench/results/gateway-overhead-<date>.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchChild, startChild, stopAllChildren } from "./child-processes.js";
import { FIXED_CONTENT, FIXED_MODEL, FIXED_PROMPT, protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { type LatencySummary, type LoadTarget, median, runClosedLoop, summarizeLatencies } from "./load-generator.js";
import { type CpuPlacement, type CpuPlacementMode, pinProcess, planCpuPlacement } from "./cpu-placement.js";
import { startPortkey } from "./peers/portkey.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** The endpoints one run can load. */
export type TargetName = "direct" | "node-proxy" | "contract-proxy" | "protogate" | "baseline" | "portkey";

const targetLabels: Record<TargetName, string> = {
  direct: "direct (upstream)",
  "node-proxy": "bare node:http proxy (floor)",
  "contract-proxy": "bare proxy + protogate's contract (floor)",
  protogate: "protogate Connect JSON unary",
  baseline: "protogate baseline (--baseline-root)",
  portkey: "Portkey",
};

/** The two targets, checked at the end of every run. */
const goals = { addedP50AtConcurrency1Ms: 0.5, throughputRatioAtConcurrency32: 5 } as const;

interface RunOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly settleMs: number;
  readonly concurrencies: readonly number[];
  readonly targets: readonly TargetName[];
  readonly cpuProf: boolean;
  readonly out: string;
  /** The checkout whose `cli/main.ts` is benchmarked (default: this one), to compare a change. */
  readonly protogateRoot: string;
  /** Another checkout, run as the `baseline` target in the same rounds: a before/after without the drift between runs. */
  readonly baselineRoot: string | undefined;
  readonly cpuPlacement: CpuPlacement;
}

/** One measured window: one target, one concurrency, one round. */
interface WindowResult {
  readonly round: number;
  readonly requests: number;
  readonly errors: number;
  readonly durationMs: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencySummary;
  /** CPU per good request, microseconds: the target's server process, the upstream, the load generator. */
  readonly cpuMicrosPerRequest: { readonly server: number | null; readonly upstream: number | null; readonly client: number };
}

/** All rounds of one target at one concurrency, pooled. */
interface CellResult {
  readonly target: TargetName;
  readonly concurrency: number;
  readonly requests: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencySummary;
  /** Target minus direct at the same concurrency (null for direct itself). */
  readonly addedMs: { readonly p50: number; readonly p99: number } | null;
  readonly cpuMicrosPerRequest: { readonly server: number | null; readonly upstream: number | null; readonly client: number };
  readonly windows: readonly WindowResult[];
}

function parseOptions(argv: readonly string[]): RunOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string", default: "4" },
      rounds: { type: "string", default: "3" },
      "warmup-seconds": { type: "string", default: "6" },
      "settle-ms": { type: "string", default: "300" },
      concurrency: { type: "string", default: "1,32" },
      targets: { type: "string", default: "direct,node-proxy,contract-proxy,protogate,portkey" },
      "cpu-prof": { type: "boolean", default: false },
      out: { type: "string" },
      "protogate-root": { type: "string" },
      "baseline-root": { type: "string" },
      "cpu-placement": { type: "string", default: "auto" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "usage: npx tsx bench/gateway-overhead.ts [--seconds 4] [--rounds 3] [--warmup-seconds 6] [--settle-ms 300]\n" +
        "         [--concurrency 1,32] [--targets direct,node-proxy,contract-proxy,protogate,portkey] [--cpu-prof] [--out FILE.json]\n" +
        "         [--protogate-root DIR]   benchmark the protogate checkout in DIR instead of this one\n" +
        "         [--baseline-root DIR]    also run the checkout in DIR as target `baseline`, in the same rounds\n" +
        "         [--cpu-placement auto|pinned|shared]  pinned: each server under test on a core of its own, load generator and\n" +
        "                                  upstream on the others; auto (default): pinned where possible (Linux, taskset, 2+ CPUs)",
    );
    process.exit(0);
  }
  const positive = (name: string, text: string, max: number) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > max) throw new Error(`--${name} must be a number in (0, ${max}]`);
    return value;
  };
  const targets = values.targets.split(",").map((name) => name.trim());
  for (const name of targets) if (!(name in targetLabels)) throw new Error(`unknown target "${name}" (direct, node-proxy, contract-proxy, protogate, baseline, portkey)`);
  if (!targets.includes("direct")) throw new Error('--targets must include "direct": added latency is measured against it');
  const baselineRoot = values["baseline-root"] === undefined ? undefined : resolve(values["baseline-root"]);
  if (baselineRoot !== undefined && !targets.includes("baseline")) targets.push("baseline");
  if (baselineRoot === undefined && targets.includes("baseline")) throw new Error("target baseline needs --baseline-root DIR");
  const placement = values["cpu-placement"];
  if (placement !== "auto" && placement !== "pinned" && placement !== "shared") throw new Error("--cpu-placement must be auto, pinned or shared");
  const date = new Date().toISOString().slice(0, 10);
  return {
    seconds: positive("seconds", values.seconds, 60),
    rounds: Math.round(positive("rounds", values.rounds, 20)),
    warmupSeconds: positive("warmup-seconds", values["warmup-seconds"], 60),
    settleMs: positive("settle-ms", values["settle-ms"], 10_000),
    concurrencies: values.concurrency.split(",").map((text) => Math.round(positive("concurrency", text, 1024))),
    targets: targets as TargetName[],
    cpuProf: values["cpu-prof"],
    out: values.out ?? join(repoRoot, "bench", "results", `gateway-overhead-${date}.json`),
    protogateRoot: values["protogate-root"] === undefined ? repoRoot : resolve(values["protogate-root"]),
    baselineRoot,
    cpuPlacement: planCpuPlacement(placement as CpuPlacementMode | "auto"),
  };
}

/** Targets that take protogate's JSON chat request and answer with `message.content`. */
const speaksProtogateJson = (name: TargetName) => name !== "direct" && name !== "portkey";

/** Request bodies and headers for each target; the conversation is the same for all. */
function loadTargetFor(name: TargetName, baseUrl: string, extraHeaders: Record<string, string> = {}): LoadTarget {
  // The bare proxy answers any path; the same path keeps the request the same.
  if (speaksProtogateJson(name)) return protogateChatTarget(baseUrl, extraHeaders);
  const openAiBody = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "user", content: FIXED_PROMPT }] }));
  return { url: `${baseUrl}/v1/chat/completions`, headers: extraHeaders, body: openAiBody, expectInBody: FIXED_CONTENT };
}

/** Sends one request and checks the answer's shape, not just its status. */
async function verifyTarget(name: TargetName, target: LoadTarget): Promise<string> {
  const response = await fetch(target.url, {
    method: "POST",
    headers: { ...target.headers, "content-type": "application/json" },
    body: target.body.toString("utf8"),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  const json: unknown = JSON.parse(text);
  const content = readPath(json, speaksProtogateJson(name) ? ["message", "content"] : ["choices", 0, "message", "content"]);
  if (content !== FIXED_CONTENT) throw new Error(`${name}: unexpected answer: ${text.slice(0, 500)}`);
  return text;
}

function readPath(value: unknown, path: ReadonlyArray<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

async function upstreamChatCount(upstreamUrl: string): Promise<number> {
  const response = await fetch(`${upstreamUrl}/bench/chat-count`);
  const count = readPath(await response.json(), ["chats"]);
  if (typeof count !== "number") throw new Error("upstream /bench/chat-count returned no count");
  return count;
}

/** Busy and total CPU time of the whole machine so far, in microseconds (from /proc/stat); undefined off Linux. */
function machineCpuMicros(): { busy: number; total: number } | undefined {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const tick = 1_000_000 / 100; // USER_HZ is 100 on Linux
    return { busy: (total - idle) * tick, total: total * tick };
  } catch {
    return undefined;
  }
}

/** Share of all cores busy over `ms` milliseconds, before anything is started; null off Linux. */
async function machineBusyPercent(ms: number): Promise<number | null> {
  const before = machineCpuMicros();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineCpuMicros();
  if (before === undefined || after === undefined || after.total === before.total) return null;
  return (100 * (after.busy - before.busy)) / (after.total - before.total);
}

function gitDescribe(root: string): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "server", "cli", "gen"], { cwd: root, encoding: "utf8" }).trim();
    const where = root === repoRoot ? "" : ` in ${root}`;
    return dirty === "" ? `${commit}${where}` : `${commit}${where} + uncommitted changes in server/cli/gen`;
  } catch {
    return "unknown";
  }
}

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);

/**
 * The throughput ratio of two targets round by round: their windows of one
 * round run seconds apart, so a slow phase of the machine (this VM's cores
 * change speed for tens of seconds at a time, docs/benchmarks.md) hits
 * both, where pooled rounds can give one target more slow windows.
 * Undefined when no round has both.
 */
function roundRatios(numerator: CellResult, denominator: CellResult): { readonly median: number; readonly text: string } | undefined {
  const ratios: number[] = [];
  for (const window of numerator.windows) {
    const other = denominator.windows.find((candidate) => candidate.round === window.round);
    if (other !== undefined && other.requestsPerSecond > 0) ratios.push(window.requestsPerSecond / other.requestsPerSecond);
  }
  if (ratios.length === 0) return undefined;
  const middle = median(ratios);
  const text = `median ${middle.toFixed(2)}× over ${ratios.length} rounds, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  return { median: middle, text };
}

/** Lowest and highest req/s of the rounds, to show how noisy the machine was. */
function roundRange(cell: CellResult): string {
  const rates = cell.windows.map((window) => Math.round(window.requestsPerSecond));
  return rates.length < 2 ? "—" : `${Math.min(...rates)}–${Math.max(...rates)}`;
}

/** The Markdown table the doc quotes. */
function markdownTable(cells: readonly CellResult[]): string {
  const lines = [
    "| target | concurrency | req/s | req/s per round | p50 ms | p99 ms | added p50 ms | added p99 ms | server CPU µs/req | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const cell of cells) {
    lines.push(
      `| ${targetLabels[cell.target]} | ${cell.concurrency} | ${Math.round(cell.requestsPerSecond)} | ${roundRange(cell)} | ${fixed(cell.latencyMs.p50, 3)} | ` +
        `${fixed(cell.latencyMs.p99, 3)} | ${fixed(cell.addedMs?.p50, 3)} | ${fixed(cell.addedMs?.p99, 3)} | ` +
        `${fixed(cell.cpuMicrosPerRequest.server, 0)} | ${cell.errors} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const loadBefore = loadavg();
  // Other work on the machine skews every number; measure it and say so.
  const busyBefore = await machineBusyPercent(1000);
  if (busyBefore !== null && busyBefore > 15) {
    console.error(`warning: the machine was ${busyBefore.toFixed(0)}% busy before the run started; expect noisy numbers`);
  }
  const tsxNode = (script: string, args: readonly string[]) => ["--import", "tsx", script, ...args] as const;

  // 1. The upstream, in its own process; it and this load generator form the harness.
  const { child: upstream, url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
  const placement = options.cpuPlacement;
  if (placement.mode === "pinned") for (const pid of [process.pid, upstream.pid]) pinProcess(pid, placement.harnessCpus);
  /** Puts a started server under test on the core kept for servers (its threads started so far, and so all later ones). */
  const placeServer = (child: BenchChild) => {
    if (placement.mode === "pinned") pinProcess(child.pid, placement.serverCpus);
  };

  // 2. protogate through its real CLI (`protogate serve`), in its own process.
  const profileDir = options.cpuProf ? mkdtempSync(join(tmpdir(), "protogate-cpu-prof-")) : undefined;
  const servers = new Map<TargetName, { child: BenchChild; target: LoadTarget }>();
  servers.set("direct", { child: upstream, target: loadTargetFor("direct", upstreamUrl) });
  let portkeyVersion: string | null = null;
  const startProtogate = async (name: "protogate" | "baseline", root: string) => {
    const nodeFlags = profileDir === undefined || name !== "protogate" ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir];
    const { child, url } = await startProtogateProcess(root, upstreamUrl, { name, nodeFlags });
    placeServer(child);
    servers.set(name, { child, target: loadTargetFor(name, url) });
  };
  // The floors: a bare node:http proxy, and the same proxy with protogate's contract, each in its own process.
  const floors = [
    { name: "node-proxy", script: "bench/bare-proxy.ts", banner: /bare proxy listening on (http:\/\/\S+)/ },
    { name: "contract-proxy", script: "bench/contract-proxy.ts", banner: /contract proxy listening on (http:\/\/\S+)/ },
  ] as const;
  for (const floor of floors) {
    if (!options.targets.includes(floor.name)) continue;
    const child = startChild(floor.name, process.execPath, tsxNode(floor.script, ["--upstream", upstreamUrl, "--port", "0"]), { cwd: repoRoot });
    const url = (await child.waitForLine(floor.banner, 20_000))[1] ?? "";
    placeServer(child);
    servers.set(floor.name, { child, target: loadTargetFor(floor.name, url) });
  }
  if (options.targets.includes("protogate")) await startProtogate("protogate", options.protogateRoot);
  if (options.baselineRoot !== undefined) await startProtogate("baseline", options.baselineRoot);
  // 3. Portkey from bench/.peers, in its own process.
  if (options.targets.includes("portkey")) {
    const portkey = await startPortkey({ repoRoot });
    portkeyVersion = portkey.version;
    placeServer(portkey.child);
    servers.set("portkey", { child: portkey.child, target: loadTargetFor("portkey", portkey.url, portkey.routeHeaders(upstreamUrl)) });
  }
  const targets = options.targets.filter((name) => servers.has(name));

  // 4. Check every answer is the real one, forwarded to the upstream exactly once.
  for (const name of targets) {
    const server = servers.get(name);
    if (server === undefined) continue;
    const before = await upstreamChatCount(upstreamUrl);
    await verifyTarget(name, server.target);
    const forwarded = (await upstreamChatCount(upstreamUrl)) - before;
    if (forwarded !== 1) throw new Error(`${name}: one request reached the upstream ${forwarded} times`);
  }
  console.error(`upstream ${upstreamUrl}; targets ${targets.join(", ")}; ${options.rounds} round(s) × ${options.seconds} s per window`);

  // 5. Warm up: V8 needs thousands of requests before a gateway's hot paths are
  // optimised (protogate's CPU per request falls about 3× over its first ~4,000),
  // so each target first runs at the highest concurrency, then briefly at each other one.
  const highest = Math.max(...options.concurrencies);
  for (const name of targets) {
    const server = servers.get(name);
    if (server === undefined) continue;
    for (const concurrency of [highest, ...options.concurrencies.filter((c) => c !== highest)]) {
      const warm = await runClosedLoop(server.target, {
        concurrency,
        durationMs: concurrency === highest ? options.warmupSeconds * 1000 : 500,
        maxRequests: 1_000_000,
        settleMs: 0,
      });
      if (warm.errors > 0) throw new Error(`${name}: ${warm.errors} failed request(s) while warming up; first: ${warm.firstError ?? "?"}`);
    }
  }

  // CPU used by other work on the machine while we measure = machine busy − our processes.
  const ourCpuMicros = () => {
    const self = process.cpuUsage();
    let total = self.user + self.system;
    for (const server of new Set([...servers.values()].map((entry) => entry.child))) total += server.cpuMicros() ?? 0;
    return total;
  };
  const machineAtStart = machineCpuMicros();
  const oursAtStart = ourCpuMicros();

  // 6. Measure, interleaved: each round visits every (concurrency, target), target order rotating.
  const windows = new Map<string, { results: WindowResult[]; latencies: Float64Array[]; firstError: string | undefined }>();
  const key = (name: TargetName, concurrency: number) => `${name}@${concurrency}`;
  for (let round = 0; round < options.rounds; round++) {
    for (const concurrency of options.concurrencies) {
      const order = targets.map((_, index) => targets[(index + round) % targets.length] as TargetName);
      for (const name of order) {
        const server = servers.get(name);
        if (server === undefined) continue;
        const chatsBefore = await upstreamChatCount(upstreamUrl);
        let cpu = { server: 0, upstream: 0 };
        let cpuUsed = { server: Number.NaN, upstream: Number.NaN };
        const result = await runClosedLoop(server.target, {
          concurrency,
          durationMs: options.seconds * 1000,
          maxRequests: Math.ceil(options.seconds * 100_000),
          settleMs: options.settleMs,
          onWindow(edge) {
            const now = { server: server.child.cpuMicros() ?? Number.NaN, upstream: upstream.cpuMicros() ?? Number.NaN };
            if (edge === "start") cpu = now;
            else cpuUsed = { server: now.server - cpu.server, upstream: now.upstream - cpu.upstream };
          },
        });
        const forwarded = (await upstreamChatCount(upstreamUrl)) - chatsBefore;
        if (result.errors === 0 && forwarded !== result.sent) {
          throw new Error(`${name}: sent ${result.sent} requests but the upstream answered ${forwarded}`);
        }
        const perRequest = (micros: number) => (Number.isNaN(micros) || result.requests === 0 ? null : micros / result.requests);
        const window: WindowResult = {
          round,
          requests: result.requests,
          errors: result.errors,
          durationMs: result.durationMs,
          requestsPerSecond: result.requests / (result.durationMs / 1000),
          latencyMs: summarizeLatencies(result.latenciesMs),
          cpuMicrosPerRequest: {
            server: perRequest(cpuUsed.server),
            upstream: perRequest(cpuUsed.upstream),
            client: result.requests === 0 ? 0 : result.clientCpuMicros / result.requests,
          },
        };
        const entry = windows.get(key(name, concurrency)) ?? { results: [], latencies: [], firstError: undefined };
        entry.results.push(window);
        entry.latencies.push(result.latenciesMs);
        entry.firstError ??= result.firstError;
        windows.set(key(name, concurrency), entry);
        console.error(
          `  round ${round + 1} c=${concurrency} ${name.padEnd(9)} ${Math.round(window.requestsPerSecond)} req/s` +
            ` p50 ${window.latencyMs.p50.toFixed(3)} ms p99 ${window.latencyMs.p99.toFixed(3)} ms` +
            (result.errors > 0 ? ` ERRORS ${result.errors}: ${result.firstError ?? ""}` : ""),
        );
      }
    }
  }

  const machineAtEnd = machineCpuMicros();
  const othersPercent =
    machineAtStart === undefined || machineAtEnd === undefined || machineAtEnd.total === machineAtStart.total
      ? null
      : Math.max(0, (100 * (machineAtEnd.busy - machineAtStart.busy - (ourCpuMicros() - oursAtStart))) / (machineAtEnd.total - machineAtStart.total));

  // 7. Pool the rounds and compare with direct.
  const pooled = (name: TargetName, concurrency: number) => {
    const entry = windows.get(key(name, concurrency));
    if (entry === undefined) return undefined;
    const all = new Float64Array(entry.latencies.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of entry.latencies) {
      all.set(part, offset);
      offset += part.length;
    }
    const requests = entry.results.reduce((sum, window) => sum + window.requests, 0);
    const seconds = entry.results.reduce((sum, window) => sum + window.durationMs, 0) / 1000;
    const average = (pick: (window: WindowResult) => number | null) => {
      const values = entry.results.map(pick).filter((value): value is number => value !== null);
      return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
    };
    return {
      requests,
      errors: entry.results.reduce((sum, window) => sum + window.errors, 0),
      firstError: entry.firstError ?? null,
      requestsPerSecond: requests / seconds,
      latencyMs: summarizeLatencies(all),
      cpuMicrosPerRequest: {
        server: average((window) => window.cpuMicrosPerRequest.server),
        upstream: average((window) => window.cpuMicrosPerRequest.upstream),
        client: average((window) => window.cpuMicrosPerRequest.client) ?? 0,
      },
      windows: entry.results,
    };
  };
  const cells: CellResult[] = [];
  for (const concurrency of options.concurrencies) {
    const direct = pooled("direct", concurrency);
    for (const name of targets) {
      const cell = pooled(name, concurrency);
      if (cell === undefined || direct === undefined) continue;
      cells.push({
        target: name,
        concurrency,
        ...cell,
        addedMs:
          name === "direct"
            ? null
            : { p50: cell.latencyMs.p50 - direct.latencyMs.p50, p99: cell.latencyMs.p99 - direct.latencyMs.p99 },
      });
    }
  }

  // 8. Verdicts on the targets.
  const cell = (name: TargetName, concurrency: number) => cells.find((c) => c.target === name && c.concurrency === concurrency);
  const verdicts: string[] = [];
  const added1 = cell("protogate", 1)?.addedMs?.p50;
  if (added1 !== undefined) {
    const met = added1 <= goals.addedP50AtConcurrency1Ms;
    verdicts.push(
      `protogate added p50 at concurrency 1: ${added1.toFixed(3)} ms (goal ≤ ${goals.addedP50AtConcurrency1Ms} ms): ` +
        (met ? "met" : `MISSED by ${(added1 - goals.addedP50AtConcurrency1Ms).toFixed(3)} ms`),
    );
  }
  const protogate32 = cell("protogate", 32);
  const portkey32 = cell("portkey", 32);
  if (protogate32 !== undefined && portkey32 !== undefined && portkey32.errors === 0) {
    const ratio = protogate32.requestsPerSecond / portkey32.requestsPerSecond;
    const met = ratio >= goals.throughputRatioAtConcurrency32;
    verdicts.push(
      `protogate / Portkey throughput at concurrency 32: ${ratio.toFixed(2)}× (goal ≥ ${goals.throughputRatioAtConcurrency32}×): ` +
        (met ? "met" : "MISSED"),
    );
    const paired = roundRatios(protogate32, portkey32);
    if (paired !== undefined) {
      verdicts.push(
        `the same, round by round (each round's two windows a few seconds apart, on the same core when pinned): ${paired.text} ` +
          `(goal ≥ ${goals.throughputRatioAtConcurrency32}×): ${paired.median >= goals.throughputRatioAtConcurrency32 ? "met" : "MISSED"}`,
      );
    }
  }
  // The floor puts the goals in proportion: what is left of them once Node's HTTP stack is paid for.
  const floor1 = cell("node-proxy", 1)?.addedMs?.p50;
  if (floor1 !== undefined) {
    verdicts.push(
      `bare node:http proxy added p50 at concurrency 1: ${floor1.toFixed(3)} ms, leaving ${(goals.addedP50AtConcurrency1Ms - floor1).toFixed(3)} ms ` +
        `of the goal for a gateway's own work (protogate's own work: ${added1 === undefined ? "—" : (added1 - floor1).toFixed(3)} ms)`,
    );
  }
  const contract1 = cell("contract-proxy", 1)?.addedMs?.p50;
  if (contract1 !== undefined) {
    verdicts.push(
      `contract proxy added p50 at concurrency 1: ${contract1.toFixed(3)} ms ` +
        `(protogate's work beyond its contract: ${added1 === undefined ? "—" : (added1 - contract1).toFixed(3)} ms)`,
    );
  }
  for (const [name, label] of [["node-proxy", "bare node:http proxy"], ["contract-proxy", "contract proxy"]] as const) {
    const floor32 = cell(name, 32);
    if (floor32 !== undefined && portkey32 !== undefined && portkey32.errors === 0) {
      verdicts.push(`${label} / Portkey throughput at concurrency 32: ${(floor32.requestsPerSecond / portkey32.requestsPerSecond).toFixed(2)}×`);
    }
  }
  for (const concurrency of options.concurrencies) {
    const current = cell("protogate", concurrency);
    const baseline = cell("baseline", concurrency);
    if (current === undefined || baseline === undefined) continue;
    verdicts.push(
      `protogate vs baseline at concurrency ${concurrency}: ${(current.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)}× the req/s ` +
        `(round by round: ${roundRatios(current, baseline)?.text ?? "—"}); ` +
        `added p50 ${fixed(current.addedMs?.p50 ?? null, 3)} vs ${fixed(baseline.addedMs?.p50 ?? null, 3)} ms; ` +
        `server CPU ${fixed(current.cpuMicrosPerRequest.server, 0)} vs ${fixed(baseline.cpuMicrosPerRequest.server, 0)} µs/req`,
    );
  }
  if (othersPercent !== null && othersPercent > 20) {
    verdicts.push(`NOISY: other work used ${othersPercent.toFixed(0)}% of the cores while measuring; rerun on a quieter machine`);
  }
  const failed = cells.filter((c) => c.errors > 0);
  for (const bad of failed) {
    verdicts.push(`INVALID: ${targetLabels[bad.target]} at concurrency ${bad.concurrency} had ${bad.errors} error(s): ${bad.firstError ?? ""}`);
  }

  // 9. Stop the servers (protogate writes its CPU profile on a clean exit), then report.
  await stopAllChildren();
  const loadAfter = loadavg();
  const cpuList = cpus();
  const environment = {
    node: process.version,
    os: `${process.platform} ${release()}`,
    cpuModel: cpuList[0]?.model ?? "unknown",
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    cpuBusyPercentBefore: busyBefore,
    otherWorkPercentDuringMeasurement: othersPercent,
    loadAverage1mBefore: loadBefore[0] ?? null,
    loadAverage1mAfter: loadAfter[0] ?? null,
    protogate: gitDescribe(options.protogateRoot),
    baseline: options.baselineRoot === undefined ? null : gitDescribe(options.baselineRoot),
    portkey: portkeyVersion,
    cpuPlacement: placement,
  };
  const table = markdownTable(cells);
  console.log(table);
  console.log("");
  console.log(
    `- ${environment.node}, ${environment.cores} × ${environment.cpuModel}; other work on the machine: ` +
      `${fixed(busyBefore, 0)}% of the cores just before, ${fixed(othersPercent, 0)}% while measuring; load average (1 min) ` +
      `${fixed(environment.loadAverage1mBefore, 2)} before, ${fixed(environment.loadAverage1mAfter, 2)} after; ` +
      `protogate ${environment.protogate}; Portkey ${environment.portkey ?? "not run"}; ` +
      (placement.mode === "pinned"
        ? `each server under test pinned to CPU ${placement.serverCpus}, load generator and upstream to CPU ${placement.harnessCpus}`
        : "processes not pinned to CPUs"),
  );
  for (const line of verdicts) console.log(`- ${line}`);
  if (profileDir !== undefined) {
    const profiles = readdirSync(profileDir).filter((file) => file.endsWith(".cpuprofile"));
    console.log(`- protogate CPU profile: ${profiles.map((file) => join(profileDir, file)).join(", ") || "(none written)"}`);
  }

  mkdirSync(dirname(options.out), { recursive: true });
  const report = {
    benchmark: "gateway-overhead",
    startedAt: startedAt.toISOString(),
    command: `npx tsx bench/gateway-overhead.ts ${process.argv.slice(2).join(" ")}`.trim(),
    environment,
    settings: {
      secondsPerWindow: options.seconds,
      rounds: options.rounds,
      warmupSeconds: options.warmupSeconds,
      settleMs: options.settleMs,
      concurrencies: options.concurrencies,
      client: "node:http Agent keepAlive, one connection per concurrent request, HTTP/1.1",
      upstream: "bench/fixed-upstream.ts (node:http, fixed llama.cpp chat.completion body)",
      goals,
    },
    cells: cells.map((c) => ({ ...c, label: targetLabels[c.target] })),
    verdicts,
  };
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`- raw results: ${relative(process.cwd(), options.out)}`);
  if (failed.length > 0) process.exitCode = 1;
}

main().catch(async (error: unknown) => {
  console.error(`gateway-overhead: ${error instanceof Error ? error.message : String(error)}`);
  await stopAllChildren();
  process.exit(1);
});
