/**
 * How much garbage-collection work a unary Chat leaves behind, in
 * protogate and in the contract proxy (bench/contract-proxy.ts), each in
 * its own process under the same closed-loop load as bench:gateway.
 *
 *   npx tsx bench/gc-pressure.ts [--seconds 5] [--concurrency 1,32] [--protogate-root DIR]
 *
 * Every server runs with V8's `--trace-gc-nvp`; over each measured window
 * the script sums, for the isolate that collected most (the main thread):
 * the bytes scavenges promoted to the old generation, the scavenges' and
 * full collections' pauses, and the CPU of the main thread and of all other
 * threads (V8's parallel scavenge, concurrent marking and compiler helpers,
 * libuv's pool). Everything per request.
 *
 * Why it matters: an object that outlives two scavenges is copied twice
 * and then stays until a full collection; a gateway whose per-request
 * objects die young pays almost nothing for them. Unlike CPU time, which
 * swings ±20 % on a shared VM, promoted bytes per request repeat within
 * about 10 % from run to run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchChild, runBenchScript, startChild, stopAllChildren } from "./child-processes.js";
import { protogateChatTarget, startFixedUpstreamProcess, startProtogateProcess } from "./fixed-upstream.js";
import { type GcEvent, parseGcLine, summarizeBusiestIsolate } from "./gc-trace.js";
import { type LoadTarget, runClosedLoop } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

interface Row {
  readonly target: string;
  readonly concurrency: number;
  readonly requests: number;
  readonly promotedBytes: number;
  readonly scavengesPer1000: number;
  readonly scavengePauseMicros: number;
  readonly markCompactPauseMicros: number;
  readonly markCompacts: number;
  readonly mainThreadMicros: number;
  readonly otherThreadsMicros: number;
}

async function measure(name: string, child: BenchChild, target: LoadTarget, concurrency: number, seconds: number): Promise<Row> {
  const events: GcEvent[] = [];
  let stopListening = () => {};
  let cpuAtStart = child.cpuMicrosByThread();
  let cpuAtEnd = cpuAtStart;
  const result = await runClosedLoop(target, {
    concurrency,
    durationMs: seconds * 1000,
    maxRequests: 10_000_000,
    settleMs: 300,
    onWindow: (edge) => {
      if (edge === "start") {
        cpuAtStart = child.cpuMicrosByThread();
        stopListening = child.onLine((line) => {
          const event = parseGcLine(line);
          if (event !== undefined) events.push(event);
        });
      } else {
        cpuAtEnd = child.cpuMicrosByThread();
        stopListening();
      }
    },
  });
  if (result.errors > 0) throw new Error(`${name}: ${result.errors} failed requests; first: ${result.firstError ?? ""}`);
  const n = result.requests;
  const gc = summarizeBusiestIsolate(events);
  return {
    target: name,
    concurrency,
    requests: n,
    promotedBytes: gc.promotedBytes / n,
    scavengesPer1000: (gc.scavenges * 1000) / n,
    scavengePauseMicros: (gc.scavengePauseMs * 1000) / n,
    markCompactPauseMicros: (gc.markCompactPauseMs * 1000) / n,
    markCompacts: gc.markCompacts,
    mainThreadMicros: ((cpuAtEnd?.mainThread ?? 0) - (cpuAtStart?.mainThread ?? 0)) / n,
    otherThreadsMicros: ((cpuAtEnd?.otherThreads ?? 0) - (cpuAtStart?.otherThreads ?? 0)) / n,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "5" },
      concurrency: { type: "string", default: "1,32" },
      "protogate-root": { type: "string", default: repoRoot },
    },
  });
  const seconds = Number(values.seconds);
  const levels = values.concurrency.split(",").map(Number);
  const protogateRoot = resolve(values["protogate-root"]);
  const gcTrace = ["--trace-gc-nvp"];
  const configDir = mkdtempSync(join(tmpdir(), "protogate-gc-"));
  const noLogConfig = join(configDir, "no-request-log.yaml");
  writeFileSync(noLogConfig, "observability:\n  disableRequestLog: true\n");

  try {
    const { url: upstreamUrl } = await startFixedUpstreamProcess(repoRoot);
    const servers: Array<{ name: string; start: () => Promise<{ child: BenchChild; url: string }> }> = [
      { name: "protogate", start: () => startProtogateProcess(protogateRoot, upstreamUrl, { nodeFlags: gcTrace }) },
      {
        name: "protogate, request log off",
        start: () => startProtogateProcess(protogateRoot, upstreamUrl, { name: "protogate, request log off", nodeFlags: gcTrace, serveArgs: ["--config", noLogConfig] }),
      },
      {
        name: "contract proxy",
        async start() {
          const args = [...gcTrace, "--import", "tsx", "bench/contract-proxy.ts", "--upstream", upstreamUrl, "--port", "0"];
          const child = startChild("contract proxy", process.execPath, args, { cwd: repoRoot });
          return { child, url: (await child.waitForLine(/(http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1] ?? "" };
        },
      },
    ];
    const rows: Row[] = [];
    for (const server of servers) {
      const { child, url } = await server.start();
      const target = protogateChatTarget(url);
      // As in bench:gateway: V8 optimises the hot paths over the first thousands of requests.
      await runClosedLoop(target, { concurrency: 32, durationMs: 8000, maxRequests: 10_000_000, settleMs: 0 });
      for (const concurrency of levels) rows.push(await measure(server.name, child, target, concurrency, seconds));
      await child.stop();
    }
    console.log(
      "| target | concurrency | requests | promoted to old generation, B/req | scavenges per 1 000 req | scavenge pause µs/req | full GCs | full GC pause µs/req | main thread CPU µs/req | other threads CPU µs/req |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const row of rows) {
      console.log(
        `| ${row.target} | ${row.concurrency} | ${row.requests} | ${row.promotedBytes.toFixed(0)} | ${row.scavengesPer1000.toFixed(1)} | ` +
          `${row.scavengePauseMicros.toFixed(1)} | ${row.markCompacts} | ${row.markCompactPauseMicros.toFixed(1)} | ` +
          `${row.mainThreadMicros.toFixed(0)} | ${row.otherThreadsMicros.toFixed(0)} |`,
      );
    }
  } finally {
    await stopAllChildren();
    rmSync(configDir, { recursive: true, force: true });
  }
}

runBenchScript(main);
