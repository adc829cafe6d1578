/**
 * What one upstream call costs the gateway's process: the same keep-alive
 * POST to the fixed upstream (in its own process), sent with `node:http`
 * and a keep-alive agent (as protogate did until 2026-11-27, the body read
 * with plain `data`/`end` listeners) and with protogate's own client
 * (`createUpstreamClient(...).postText`, server/backends/http1-client.ts).
 * Rounds alternate the two; each prints this process's CPU and the wall
 * time per call, at concurrency 1 (one call after another) and at the
 * given concurrency (that many calls in flight).
 *
 *   npx tsx bench/upstream-client.ts [--calls 10000] [--rounds 5] [--concurrency 32]
 */
import { setMaxListeners } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createUpstreamClient } from "../server/backends/upstream-http.js";
import { runBenchScript } from "./child-processes.js";
import { FIXED_CONTENT, FIXED_MODEL, FIXED_PROMPT, startFixedUpstreamProcess } from "./fixed-upstream.js";
import { percentile } from "./load-generator.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

type Call = () => Promise<string>;

/** The old way: `http.request` over a keep-alive agent, the body collected from its events. */
function nodeHttpCall(baseUrl: string, bodyText: string): Call {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, scheduling: "lifo" });
  const length = Buffer.byteLength(bodyText);
  return () =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          method: "POST",
          hostname: url.hostname,
          port: Number(url.port),
          path: "/v1/chat/completions",
          headers: { "content-type": "application/json", "content-length": length },
          agent,
        },
        (message) => {
          const chunks: Buffer[] = [];
          message.on("data", (chunk: Buffer) => chunks.push(chunk));
          message.once("error", reject);
          message.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        },
      );
      outgoing.once("error", reject);
      outgoing.end(bodyText);
    });
}

/** Runs `calls` calls, `concurrency` at a time, and returns CPU and wall time per call in microseconds. */
async function measure(call: Call, calls: number, concurrency: number): Promise<{ cpu: number; wall: number }> {
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  let started = 0;
  const worker = async () => {
    while (started < calls) {
      started++;
      const text = await call();
      if (!text.includes(FIXED_CONTENT)) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpuStart);
  return { cpu: (cpu.user + cpu.system) / calls, wall: ((performance.now() - wallStart) * 1000) / calls };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { calls: { type: "string", default: "10000" }, rounds: { type: "string", default: "5" }, concurrency: { type: "string", default: "32" } },
  });
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const levels = [1, Number(values.concurrency)];
  const { url } = await startFixedUpstreamProcess(repoRoot);
  const bodyText = JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "user", content: FIXED_PROMPT }], stream: false });
  const protogateClient = createUpstreamClient({ baseUrl: url });
  const signal = new AbortController().signal;
  // One signal for every call, each call listening while it runs.
  setMaxListeners(0, signal);
  const clients: Record<string, Call> = {
    "node:http + keep-alive agent": nodeHttpCall(url, bodyText),
    "protogate http1-client": () => protogateClient.postText("/v1/chat/completions", bodyText, signal),
  };
  // Warm-up: V8 optimises both paths over the first thousands of calls.
  for (const call of Object.values(clients)) await measure(call, calls, 1);
  const results = new Map<string, { cpu: number[]; wall: number[] }>();
  for (let round = 0; round < rounds; round++) {
    const names = round % 2 === 0 ? Object.keys(clients) : Object.keys(clients).reverse();
    for (const concurrency of levels) {
      for (const name of names) {
        const { cpu, wall } = await measure(clients[name] as Call, calls, concurrency);
        const key = `${name} | ${concurrency}`;
        const entry = results.get(key) ?? { cpu: [], wall: [] };
        entry.cpu.push(cpu);
        entry.wall.push(wall);
        results.set(key, entry);
        console.log(`  round ${round + 1} c=${concurrency} ${name}: ${cpu.toFixed(1)} µs CPU, ${wall.toFixed(1)} µs wall per call`);
      }
    }
  }
  console.log("| client | concurrency | CPU µs/call (median, range) | wall µs/call (median) |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [key, { cpu, wall }] of results) {
    const [name, concurrency] = key.split(" | ");
    const median = (values: readonly number[]) => percentile(Float64Array.from(values).sort(), 50);
    console.log(`| ${name} | ${concurrency} | ${median(cpu).toFixed(1)} (${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)}) | ${median(wall).toFixed(1)} |`);
  }
  console.log(`- ${rounds} rounds × ${calls} calls per client and concurrency; Node ${process.version}; CPU is this process's (the client's), all threads`);
}

runBenchScript(main);
