/**
 * Where a protogate request's CPU goes, measured in ONE process and ONE
 * thread: the fixed upstream, the server under test and the client all run
 * here, so "CPU µs per request" differences between rows are the cost of
 * what each row adds, without cross-process scheduling noise.
 *
 *   npx tsx bench/cost-breakdown.ts [--seconds 1] [--rounds 7]
 *
 * Rows (interleaved, median of rounds):
 * - floor: node:http client → upstream
 * - fetch: the same call with fetch (what protogate's upstream call used before node:http)
 * - bare proxy: bench/bare-proxy.ts, a bare node:http JSON proxy in front of the upstream
 * - contract proxy: bench/contract-proxy.ts, the bare proxy speaking protogate's
 *   contract (protobuf-es JSON both ways, protovalidate on the request)
 * - Connect Health/Check: protogate's handler answering a trivial Connect
 *   JSON unary RPC (no upstream call): the RPC stack's own cost, on the
 *   unary fast path and through connect-node's adapter
 * - protogate Chat: the real thing, on the fast path and through the adapter
 */
import { parseArgs } from "node:util";
import { defaultObservability, resolveConfig } from "../server/config/resolved-config.js";
import { startGateway } from "../server/gateway.js";
import { startBareProxy } from "./bare-proxy.js";
import { startContractProxy } from "./contract-proxy.js";
import { FIXED_CONTENT, FIXED_MODEL, startFixedUpstream } from "./fixed-upstream.js";
import { type LoadTarget, runClosedLoop } from "./load-generator.js";

/** Sequential fetch calls for `durationMs`; CPU µs per call. */
async function fetchLoop(target: LoadTarget, durationMs: number): Promise<number> {
  const body = target.body.toString("utf8");
  const cpuBefore = process.cpuUsage();
  const deadline = performance.now() + durationMs;
  let calls = 0;
  while (performance.now() < deadline) {
    const response = await fetch(target.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await response.text();
    if (!text.includes(target.expectInBody)) throw new Error(`fetch: unexpected answer ${text.slice(0, 200)}`);
    calls++;
  }
  const cpu = process.cpuUsage(cpuBefore);
  return (cpu.user + cpu.system) / calls;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" }, rounds: { type: "string", default: "7" } } });
  const windowMs = Number(values.seconds) * 1000;
  const rounds = Number(values.rounds);

  const upstream = await startFixedUpstream();
  const proxy = await startBareProxy(upstream.url);
  const contractProxy = await startContractProxy(upstream.url);
  // What `protogate serve --backend openai=URL` runs, with the request log off: its lines would go to
  // this process's stderr, which the reader of the table watches.
  const gatewayConfig = {
    ...resolveConfig(undefined, { configPath: undefined, host: "127.0.0.1", port: 0, backends: [{ kind: "openai", url: upstream.url }] }, {}),
    observability: { ...defaultObservability, requestLog: false },
  };
  const gateway = await startGateway(gatewayConfig);
  const adapterGateway = await startGateway({ ...gatewayConfig, unaryFastPath: false });
  try {
    const openAiBody = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "user", content: "hi" }] }));
    const protogateBody = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: "hi" }] }));
    const targets = {
      floor: { url: `${upstream.url}/v1/chat/completions`, headers: {}, body: openAiBody, expectInBody: FIXED_CONTENT },
      bareProxy: { url: `${proxy.url}/`, headers: {}, body: protogateBody, expectInBody: FIXED_CONTENT },
      contractProxy: { url: `${contractProxy.url}/`, headers: {}, body: protogateBody, expectInBody: FIXED_CONTENT },
      healthCheck: { url: `${gateway.url}/grpc.health.v1.Health/Check`, headers: {}, body: Buffer.from("{}"), expectInBody: "SERVING" },
      chat: { url: `${gateway.url}/protogate.v1.InferenceService/Chat`, headers: {}, body: protogateBody, expectInBody: FIXED_CONTENT },
      healthCheckAdapter: { url: `${adapterGateway.url}/grpc.health.v1.Health/Check`, headers: {}, body: Buffer.from("{}"), expectInBody: "SERVING" },
      chatAdapter: { url: `${adapterGateway.url}/protogate.v1.InferenceService/Chat`, headers: {}, body: protogateBody, expectInBody: FIXED_CONTENT },
    } satisfies Record<string, LoadTarget>;

    // Warm-up: V8 needs thousands of calls before the hot paths are optimised.
    for (const target of [targets.chat, targets.chatAdapter, targets.healthCheck, targets.healthCheckAdapter, targets.bareProxy, targets.contractProxy, targets.floor, targets.chat, targets.chatAdapter]) {
      await runClosedLoop(target, { concurrency: 8, durationMs: 3000, maxRequests: 1_000_000, settleMs: 0 });
    }
    await fetchLoop(targets.floor, 2000);

    const samples: Record<"floor" | "fetch" | "bareProxy" | "contractProxy" | "healthCheck" | "healthCheckAdapter" | "chat" | "chatAdapter", number[]> = {
      floor: [],
      fetch: [],
      bareProxy: [],
      contractProxy: [],
      healthCheck: [],
      healthCheckAdapter: [],
      chat: [],
      chatAdapter: [],
    };
    for (let round = 0; round < rounds; round++) {
      for (const name of ["floor", "bareProxy", "contractProxy", "healthCheck", "healthCheckAdapter", "chat", "chatAdapter"] as const) {
        const result = await runClosedLoop(targets[name], { concurrency: 1, durationMs: windowMs, maxRequests: 1_000_000, settleMs: 50 });
        if (result.errors > 0) throw new Error(`${name}: ${result.firstError ?? "failed"}`);
        samples[name].push(result.clientCpuMicros / result.requests);
      }
      samples.fetch.push(await fetchLoop(targets.floor, windowMs));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
    const floor = median(samples.floor);
    const rows: Array<[string, number]> = [
      ["node:http client → upstream (floor)", floor],
      ["fetch client → upstream", median(samples.fetch)],
      ["bare node:http JSON proxy", median(samples.bareProxy)],
      ["the same proxy with protogate's contract (protobuf-es JSON, protovalidate)", median(samples.contractProxy)],
      ["protogate Connect JSON Health/Check (no upstream call), fast path", median(samples.healthCheck)],
      ["protogate Connect JSON Health/Check (no upstream call), connect-node adapter", median(samples.healthCheckAdapter)],
      ["protogate Connect JSON Chat, fast path", median(samples.chat)],
      ["protogate Connect JSON Chat, connect-node adapter", median(samples.chatAdapter)],
    ];
    console.log("| in one process, concurrency 1 | CPU µs/request | over the floor |");
    console.log("| --- | ---: | ---: |");
    for (const [label, micros] of rows) {
      console.log(`| ${label} | ${micros.toFixed(0)} | ${label.endsWith("(floor)") ? "—" : (micros - floor).toFixed(0)} |`);
    }
  } finally {
    await gateway.close();
    await adapterGateway.close();
    await proxy.close();
    await contractProxy.close();
    await upstream.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
