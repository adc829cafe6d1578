/**
 * Load under faults: C concurrent ChatStream clients for S seconds through
 * protogate against an upstream that drops a share of its connections and
 * stalls another share forever. Reports the success ratio, the error-free
 * session ratio, latency percentiles, every failure by code (a request
 * with no code — lost or hung — is counted separately and fails the run),
 * the gateway's own retry/fallback counters, and the gateway process's
 * memory (RSS, and heap and external memory after a full GC) at the start,
 * every `--sample-every` seconds under load, and at the end.
 *
 *   npx tsx bench/load-faults.ts                         # 200 streams, 60 s, 5 % drops, 1 % stalls
 *   npx tsx bench/load-faults.ts --seconds 10 --concurrency 50
 *   npx tsx bench/load-faults.ts --seconds 600 --sample-every 60   # does memory plateau?
 *
 * Writes bench/results/load-faults-<date>.json and prints a Markdown summary.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Code, ConnectError, createProtogateClient, type ProtogateClient, Role } from "../sdk/index.js";
import { startChild } from "./child-processes.js";
import { startFaultyUpstream } from "./faulty-upstream.js";
import { percentile } from "./load-generator.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    concurrency: { type: "string", default: "200" },
    drop: { type: "string", default: "0.05" },
    stall: { type: "string", default: "0.01" },
    tokens: { type: "string", default: "20" },
    "token-interval-ms": { type: "string", default: "5" },
    "session-length": { type: "string", default: "5" },
    "client-guard-ms": { type: "string", default: "30000" },
    /** Seconds between memory samples under load (default: a sixth of the run, at least 10). */
    "sample-every": { type: "string" },
    out: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const sessionLength = Number(values["session-length"]);
const clientGuardMs = Number(values["client-guard-ms"]);
const sampleEverySeconds = Number(values["sample-every"] ?? Math.max(10, Math.round(seconds / 6)));

interface MemorySample {
  readonly at: string;
  readonly rss: number;
  readonly heapUsed: number;
  /** Memory held outside the JS heap for JS objects (Buffers and the like), after the same GC. */
  readonly external: number;
  readonly inFlight: number;
}

const root = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  const upstream = await startFaultyUpstream({
    dropRatio: Number(values.drop),
    stallRatio: Number(values.stall),
    tokens: Number(values.tokens),
    tokenIntervalMs: Number(values["token-interval-ms"]),
    seed: 42,
  });
  const gateway = startChild(
    "gateway",
    process.execPath,
    ["--import", "tsx", "--expose-gc", fileURLToPath(new URL("./load-faults-gateway.ts", import.meta.url))],
    { cwd: root, env: { ...process.env, LOAD_UPSTREAM_URL: upstream.url, LOAD_MODEL: upstream.model }, ipc: true },
  );
  const child = gateway.process;
  try {
    const gatewayUrl = (await gateway.waitForLine(/^listening (http:\S+)$/, 60_000))[1] ?? "";
    // Several HTTP/2 connections, as a fleet of clients would open.
    const clients = Array.from({ length: 4 }, () => createProtogateClient({ baseUrl: gatewayUrl, protocol: "grpc" }));
    const memory: MemorySample[] = [];

    // Warm-up: V8 optimises the hot paths and pools fill before the first memory sample.
    await runLoad(clients, upstream.model, Math.min(concurrency, 50), 5000, "warmup");
    memory.push({ at: "start", ...(await sampleMemory(child)) });
    const loadStarted = performance.now();
    const samplesTaken: Array<Promise<void>> = [];
    const sampler = setInterval(() => {
      const at = `${Math.round((performance.now() - loadStarted) / 1000)} s`;
      samplesTaken.push(sampleMemory(child).then((sample) => void memory.push({ at, ...sample })));
    }, sampleEverySeconds * 1000);
    const result = await runLoad(clients, upstream.model, concurrency, seconds * 1000, "load");
    clearInterval(sampler);
    await Promise.all(samplesTaken);
    const metricsText = await (await fetch(`${gatewayUrl}/metrics`)).text();
    memory.push({ at: "end", ...(await sampleMemory(child)) });

    const counters = {
      retries: sumMetric(metricsText, "protogate_retries_total"),
      fallbacks: sumMetric(metricsText, "protogate_fallbacks_total"),
      inFlightAfter: sumMetric(metricsText, "protogate_in_flight_requests"),
      sessionsErrorFree: sumMetric(metricsText, 'protogate_sessions_total{outcome="error_free"}'),
    };
    const summary = {
      settings: { seconds, concurrency, drop: Number(values.drop), stall: Number(values.stall), tokens: Number(values.tokens), tokenIntervalMs: Number(values["token-interval-ms"]), sessionLength },
      environment: { node: process.version, platform: `${process.platform} ${process.arch}`, cpus: (await import("node:os")).cpus().length },
      requests: result.requests,
      ok: result.ok,
      successRatio: result.ok / result.requests,
      byCode: result.byCode,
      lostOrHung: result.lostOrHung,
      sessions: result.sessions,
      errorFreeSessions: result.errorFreeSessions,
      errorFreeSessionRatio: result.errorFreeSessions / result.sessions,
      latencyMs: percentiles(result.latencies),
      throughputPerSecond: result.requests / (seconds || 1),
      upstream: upstream.counts,
      gateway: counters,
      memory,
    };
    const date = new Date().toISOString().slice(0, 10);
    const out = values.out ?? `${root}bench/results/load-faults-${date}.json`;
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
    printSummary(summary);
    console.log(`\nresults: ${out}`);
    if (result.lostOrHung > 0 || counters.inFlightAfter !== 0) process.exitCode = 1;
  } finally {
    await gateway.stop();
    await upstream.close();
  }
}

interface LoadResult {
  requests: number;
  ok: number;
  byCode: Record<string, number>;
  lostOrHung: number;
  sessions: number;
  errorFreeSessions: number;
  latencies: number[];
}

/**
 * `concurrency` workers in closed loops for `durationMs`. Each worker runs
 * sessions of `sessionLength` streams with one session id. A request whose
 * stream neither ends with an end event nor fails with a ConnectError
 * within the client guard is counted as lost or hung.
 */
async function runLoad(clients: readonly ProtogateClient[], model: string, workers: number, durationMs: number, label: string): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, ok: 0, byCode: {}, lostOrHung: 0, sessions: 0, errorFreeSessions: 0, latencies: [] };
  const deadline = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      const client = clients[worker % clients.length] as ProtogateClient;
      for (let session = 0; performance.now() < deadline; session++) {
        const sessionId = `${label}-w${worker}-s${session}`;
        let failed = false;
        let requests = 0;
        for (; requests < sessionLength && performance.now() < deadline; requests++) {
          const outcome = await oneStream(client, model, sessionId);
          result.requests++;
          if (outcome.kind === "ok") {
            result.ok++;
            result.latencies.push(outcome.ms);
          } else {
            failed = true;
            if (outcome.kind === "lost") result.lostOrHung++;
            else result.byCode[outcome.code] = (result.byCode[outcome.code] ?? 0) + 1;
          }
        }
        if (requests > 0) {
          result.sessions++;
          if (!failed) result.errorFreeSessions++;
        }
      }
    }),
  );
  return result;
}

type Outcome = { kind: "ok"; ms: number } | { kind: "error"; code: string } | { kind: "lost" };

async function oneStream(client: ProtogateClient, model: string, sessionId: string): Promise<Outcome> {
  const started = performance.now();
  const guard = new AbortController();
  const timer = setTimeout(() => guard.abort(new Error("client guard")), clientGuardMs);
  try {
    let ended = false;
    for await (const response of client.inference.chatStream(
      { model, messages: [{ role: Role.USER, content: "Write a short story." }], sessionId },
      { signal: guard.signal },
    )) {
      if (response.event.case === "end") ended = true;
    }
    return ended ? { kind: "ok", ms: performance.now() - started } : { kind: "lost" };
  } catch (error) {
    if (guard.signal.aborted) return { kind: "lost" };
    return error instanceof ConnectError ? { kind: "error", code: Code[error.code] ?? String(error.code) } : { kind: "lost" };
  } finally {
    clearTimeout(timer);
  }
}

function percentiles(values: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (percent: number) => round(percentile(sorted, percent));
  return { p50: at(50), p95: at(95), p99: at(99), max: round(sorted.at(-1) ?? Number.NaN) };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The sum of every sample of a metric (a name, or a name with a label selector prefix). */
function sumMetric(text: string, selector: string): number {
  const bare = !selector.includes("{");
  return text
    .split("\n")
    .filter((line) => (bare ? line.startsWith(`${selector}{`) || line.startsWith(`${selector} `) : line.startsWith(selector)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

function sampleMemory(child: ChildProcess): Promise<Omit<MemorySample, "at">> {
  return new Promise((resolve) => {
    const onMessage = (message: { kind?: string } & Omit<MemorySample, "at">) => {
      if (message.kind !== "memory") return;
      child.off("message", onMessage);
      resolve({ rss: message.rss, heapUsed: message.heapUsed, external: message.external, inFlight: message.inFlight });
    };
    child.on("message", onMessage);
    child.send({ kind: "memory" });
  });
}

function printSummary(summary: {
  settings: { seconds: number; concurrency: number; drop: number; stall: number };
  requests: number;
  ok: number;
  successRatio: number;
  byCode: Record<string, number>;
  lostOrHung: number;
  sessions: number;
  errorFreeSessionRatio: number;
  latencyMs: Record<string, number>;
  throughputPerSecond: number;
  upstream: object;
  gateway: object;
  memory: readonly MemorySample[];
}): void {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const { settings } = summary;
  console.log(`\n## Load under faults: ${settings.concurrency} streams, ${settings.seconds} s, ${settings.drop * 100}% drops, ${settings.stall * 100}% stalls\n`);
  console.log("| measure | value |\n|---|---|");
  console.log(`| requests | ${summary.requests} (${summary.throughputPerSecond.toFixed(1)}/s) |`);
  console.log(`| success ratio | ${(summary.successRatio * 100).toFixed(2)}% |`);
  console.log(`| failures by code | ${Object.entries(summary.byCode).map(([code, count]) => `${code} ${count}`).join(", ") || "none"} |`);
  console.log(`| lost or hung (no code) | ${summary.lostOrHung} |`);
  console.log(`| sessions | ${summary.sessions}, error-free ${(summary.errorFreeSessionRatio * 100).toFixed(2)}% |`);
  console.log(`| latency of successful streams | p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms |`);
  console.log(`| upstream | ${JSON.stringify(summary.upstream)} |`);
  console.log(`| gateway counters | ${JSON.stringify(summary.gateway)} |`);
  for (const sample of summary.memory) {
    console.log(`| memory at ${sample.at} | RSS ${mb(sample.rss)}, heap after GC ${mb(sample.heapUsed)}, external ${mb(sample.external)}, in flight ${sample.inFlight} |`);
  }
}

await main();
