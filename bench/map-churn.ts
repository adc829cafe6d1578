/**
 * Which code makes V8 build hidden classes (maps) while protogate serves
 * unary Chats, counted per request. In a steady state a server should
 * build none: every object of a kind shares a map made once. A site that
 * shows up here once per request gives each request's object a map of its
 * own (docs/benchmarks.md, "Hidden classes of their own"): those objects
 * outlive their request, and the inline caches that see them go
 * megamorphic.
 *
 *   npx tsx bench/map-churn.ts [--requests 2000] [--concurrency 1] [--top 25] [--protogate-root DIR]
 *
 * protogate runs in its own process with V8's `--log-maps`, which logs
 * every map V8 creates or changes with the code address that caused it.
 * After a warm-up, the script loads `--requests` Chats, takes the part of
 * the log written meanwhile, and names each event's function from the
 * log's code-creation entries. Event kinds: `Transition` (a property added;
 * reason "prototype" means the map had no transition tree to record it in,
 * so the next object makes a new map again), `Normalize`/`NormalizeCached`
 * (an object turned into a dictionary, e.g. a function renamed by tsx's
 * `__name` helper, which costs little), and the rest of V8's map events.
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startChild, stopAllChildren } from "./child-processes.js";
import { FIXED_CONTENT, FIXED_MODEL } from "./fixed-upstream.js";
import { type LoadTarget, runClosedLoop } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** A compiled function's code range, from a `code-creation` log line. */
interface CodeRange {
  readonly start: number;
  readonly size: number;
  readonly name: string;
}

/** One `map,KIND,time,from,to,pc,line,column,reason,name` line, reduced to what is counted. */
interface MapEvent {
  readonly kind: string;
  readonly pc: number;
  readonly reason: string;
  readonly property: string;
}

/** Reads the log once: every code range (the last one made at an address wins), and the map events within [from, to) bytes. */
async function readLog(file: string, from: number, to: number): Promise<{ codes: Map<number, CodeRange>; events: MapEvent[] }> {
  const codes = new Map<number, CodeRange>();
  const events: MapEvent[] = [];
  let offset = 0;
  const lines = createInterface({ input: createReadStream(file, { encoding: "latin1" }), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const at = offset;
    offset += line.length + 1;
    if (line.startsWith("code-creation,")) {
      const fields = line.split(",");
      const start = Number.parseInt(fields[4] ?? "", 16);
      if (Number.isFinite(start)) codes.set(start, { start, size: Number(fields[5]), name: fields.slice(6).join(",") });
    } else if (at >= from && at < to && line.startsWith("map,")) {
      const fields = line.split(",");
      events.push({ kind: fields[1] ?? "", pc: Number.parseInt(fields[5] ?? "", 16), reason: fields[8] ?? "", property: fields.slice(9).join(",") });
    }
  }
  return { codes, events };
}

/** The function whose code holds `pc`, or "?" (code made before logging started, or a builtin). */
function functionAt(sortedStarts: readonly number[], codes: Map<number, CodeRange>, pc: number): string {
  let low = 0;
  let high = sortedStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if ((sortedStarts[middle] ?? 0) <= pc) low = middle;
    else high = middle - 1;
  }
  const range = codes.get(sortedStarts[low] ?? -1);
  if (range === undefined || pc < range.start || pc >= range.start + range.size) return "?";
  // "chat file:///…/server/services/upstream-call.ts:1:1521" → "chat server/services/upstream-call.ts"
  const name = range.name.replace(/file:\/\/\S*?\/((?:server|bench|node_modules)\/\S*?)(?::\d+)+.*$/, "$1").replace(/,0x[0-9a-f]+,.*$/, "");
  return name.startsWith(" ") ? `(anonymous)${name}` : name;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", default: "2000" },
      concurrency: { type: "string", default: "1" },
      top: { type: "string", default: "25" },
      "protogate-root": { type: "string", default: repoRoot },
    },
  });
  const requests = Number(values.requests);
  const logDir = mkdtempSync(join(tmpdir(), "protogate-map-churn-"));
  const logFile = join(logDir, "v8.log");
  try {
    const upstream = startChild("upstream", process.execPath, ["--import", "tsx", "bench/fixed-upstream.ts", "--port", "0"], { cwd: repoRoot });
    const upstreamUrl = (await upstream.waitForLine(/fixed upstream listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const v8Flags = ["--log-maps", `--logfile=${logFile}`, "--no-logfile-per-isolate"];
    const serve = ["serve", "--host", "127.0.0.1", "--port", "0", "--backend", `openai=${upstreamUrl}`];
    const gateway = startChild("protogate", process.execPath, [...v8Flags, "--import", "tsx", "cli/main.ts", ...serve], { cwd: resolve(values["protogate-root"]) });
    const url = (await gateway.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1] ?? "";
    const body = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: "Say hello in one short sentence." }] }));
    const target: LoadTarget = { url: `${url}/protogate.v1.InferenceService/Chat`, headers: {}, body, expectInBody: FIXED_CONTENT };
    // As in bench:gateway: V8 optimises the hot paths over the first thousands of requests.
    await runClosedLoop(target, { concurrency: 32, durationMs: 6000, maxRequests: 10_000_000, settleMs: 0 });
    // V8 writes its log through a buffer of a few KB: a pause lets it drain before the window's edges are read.
    await delay(300);
    const from = statSync(logFile).size;
    const result = await runClosedLoop(target, { concurrency: Number(values.concurrency), durationMs: 600_000, maxRequests: requests, settleMs: 0 });
    await delay(300);
    const to = statSync(logFile).size;
    if (result.errors > 0 || result.requests !== requests) throw new Error(`protogate: ${result.firstError ?? "requests failed"}`);
    await gateway.stop();

    const { codes, events } = await readLog(logFile, from, to);
    const starts = [...codes.keys()].sort((a, b) => a - b);
    const byKind = new Map<string, number>();
    const bySite = new Map<string, number>();
    for (const event of events) {
      const kind = event.kind === "Transition" && event.reason === "prototype" ? "Transition (no transition tree)" : event.kind;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      const site = `${kind} | ${event.property === "" ? "—" : event.property} | ${functionAt(starts, codes, event.pc)}`;
      bySite.set(site, (bySite.get(site) ?? 0) + 1);
    }
    const perRequest = (count: number) => (count / requests).toFixed(2);
    console.log(`${requests} Chats at concurrency ${values.concurrency}: ${perRequest(events.length)} map events per request`);
    for (const [kind, count] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`  ${perRequest(count).padStart(7)}  ${kind}`);
    console.log("\n| per request | event | property | function |");
    console.log("| ---: | --- | --- | --- |");
    for (const [site, count] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
      console.log(`| ${perRequest(count)} | ${site} |`);
    }
  } finally {
    await stopAllChildren();
    rmSync(logDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
