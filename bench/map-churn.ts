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
 * After a warm-up, the script loads `--requests` Chats between two marker
 * requests (bench/map-log.ts), stops the gateway, and names each event in
 * that window by the function whose code made it. Event kinds:
 * `Transition` (a property added; reason "prototype" means the map had no
 * transition tree to record it in, so the next object makes a new map
 * again), `Normalize`/`NormalizeCached` (an object turned into a
 * dictionary, e.g. a function renamed by tsx's `__name` helper, which
 * costs little), and the rest of V8's map events.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runBenchScript, stopAllChildren } from "./child-processes.js";
import { protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { runClosedLoop } from "./load-generator.js";
import { countMapEvents, markerBody, readMapLogWindow } from "./map-log.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Sends a marker request (bench/map-log.ts); the gateway refuses it, as it must: it is not a ChatRequest. */
async function sendMarker(chatUrl: string, marker: string): Promise<void> {
  const answer = await fetch(chatUrl, { method: "POST", headers: { "content-type": "application/json" }, body: markerBody(marker) });
  await answer.arrayBuffer();
  if (answer.status !== 400) throw new Error(`marker ${marker}: expected 400 (invalid_argument), got ${answer.status}`);
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
    const { url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
    const v8Flags = ["--log-maps", `--logfile=${logFile}`, "--no-logfile-per-isolate"];
    const { child: gateway, url } = await startProtogateProcess(resolve(values["protogate-root"]), upstreamUrl, { nodeFlags: v8Flags });
    const target = protogateChatTarget(url);
    // As in bench:gateway: V8 optimises the hot paths over the first thousands of requests.
    await runClosedLoop(target, { concurrency: 32, durationMs: 6000, maxRequests: 10_000_000, settleMs: 0 });
    await sendMarker(target.url, "mapChurnWindowStart");
    const result = await runClosedLoop(target, { concurrency: Number(values.concurrency), durationMs: 600_000, maxRequests: requests, settleMs: 0 });
    await sendMarker(target.url, "mapChurnWindowEnd");
    if (result.errors > 0 || result.requests !== requests) throw new Error(`protogate: ${result.firstError ?? "requests failed"}`);
    // Stopping the gateway flushes its log.
    await gateway.stop();

    const window = await readMapLogWindow(logFile, "mapChurnWindowStart", "mapChurnWindowEnd");
    const { byKind, bySite } = countMapEvents(window);
    const events = window.events;
    const perRequest = (count: number) => (count / requests).toFixed(2);
    console.log(`${requests} Chats at concurrency ${values.concurrency}: ${perRequest(events.length)} map events per request`);
    for (const [kind, count] of byKind) console.log(`  ${perRequest(count).padStart(7)}  ${kind}`);
    console.log("\n| per request | event | property | function |");
    console.log("| ---: | --- | --- | --- |");
    for (const [site, count] of bySite.slice(0, Number(values.top))) {
      console.log(`| ${perRequest(count)} | ${site} |`);
    }
  } finally {
    await stopAllChildren();
    rmSync(logDir, { recursive: true, force: true });
  }
}

runBenchScript(main);
