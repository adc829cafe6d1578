/**
 * Compares the CPU a unary Chat costs in two protogate checkouts, paired
 * round by round in ONE process: both gateways (each checkout's own
 * `server/`), the fixed upstream and the client run here, and each round
 * measures A and B back to back (alternating which goes first), so the
 * machine's drift hits both alike. The result is the median of the
 * per-round ratios B/A, with its quartiles; a same-checkout run (A = B)
 * shows the noise floor (about ±10 % between quartiles on a 2-core VM).
 *
 *   npx tsx bench/paired-chat-cpu.ts --a ../protogate-main --b . [--rounds 21] [--ms 500] [--concurrency 1] [--request-log a,b]
 *
 * CPU is this process's (all threads) per request: gateway, client and
 * upstream together. A difference between A and B is the gateways'
 * difference; the shared part only dilutes the ratio.
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { FIXED_CONTENT, FIXED_MODEL, startFixedUpstream } from "./fixed-upstream.js";
import { type LoadTarget, runClosedLoop } from "./load-generator.js";
import { runBenchScript } from "./child-processes.js";

/** What this script needs from a checkout: `resolveConfig`, `defaultObservability` and `startGateway` (typed as this checkout's). */
type CheckoutModules = typeof import("../server/config/resolved-config.js") & typeof import("../server/gateway.js");

async function loadCheckout(root: string): Promise<CheckoutModules> {
  const moduleUrl = (path: string) => pathToFileURL(resolve(root, path)).href;
  const config = (await import(moduleUrl("server/config/resolved-config.ts"))) as typeof import("../server/config/resolved-config.js");
  const gateway = (await import(moduleUrl("server/gateway.ts"))) as typeof import("../server/gateway.js");
  return { ...config, ...gateway };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      a: { type: "string" },
      b: { type: "string" },
      rounds: { type: "string", default: "21" },
      ms: { type: "string", default: "500" },
      concurrency: { type: "string", default: "1" },
      "request-log": { type: "string", default: "" },
    },
  });
  if (values.a === undefined || values.b === undefined) throw new Error("usage: npx tsx bench/paired-chat-cpu.ts --a DIR --b DIR [--rounds 21] [--ms 500] [--concurrency 1] [--request-log a,b]");
  const rounds = Number(values.rounds);
  const windowMs = Number(values.ms);
  const concurrency = Number(values.concurrency);
  const logged = new Set(values["request-log"].split(",").map((name) => name.trim().toUpperCase()));

  const upstream = await startFixedUpstream();
  const sides = { A: values.a, B: values.b } as const;
  const gateways = new Map<"A" | "B", { url: string; close(): Promise<void> }>();
  for (const [name, root] of Object.entries(sides) as Array<["A" | "B", string]>) {
    const checkout = await loadCheckout(root);
    // What `protogate serve --backend openai=URL` runs in that checkout; the request log only where asked for
    // (its lines go to this process's stderr: redirect it, 2>/dev/null).
    const config = checkout.resolveConfig(undefined, { configPath: undefined, host: "127.0.0.1", port: 0, backends: [{ kind: "openai", url: upstream.url }] }, {});
    gateways.set(name, await checkout.startGateway({ ...config, observability: { ...checkout.defaultObservability, requestLog: logged.has(name) } }));
  }
  const body = Buffer.from(JSON.stringify({ model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: "hi" }] }));
  const target = (name: "A" | "B"): LoadTarget => ({
    url: `${gateways.get(name)?.url ?? ""}/protogate.v1.InferenceService/Chat`,
    headers: {},
    body,
    expectInBody: FIXED_CONTENT,
  });

  try {
    // V8 needs thousands of calls before the hot paths are optimised.
    for (let warmup = 0; warmup < 3; warmup++) {
      for (const name of ["A", "B"] as const) await runClosedLoop(target(name), { concurrency: 8, durationMs: 3000, maxRequests: 1_000_000, settleMs: 0 });
    }
    const micros = { A: [] as number[], B: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) {
        const result = await runClosedLoop(target(name), { concurrency, durationMs: windowMs, maxRequests: 1_000_000, settleMs: 50 });
        if (result.errors > 0) throw new Error(`${name}: ${result.firstError ?? "failed"}`);
        micros[name].push(result.clientCpuMicros / result.requests);
      }
    }
    const ratios = micros.B.map((b, index) => b / (micros.A[index] ?? Number.NaN)).sort((x, y) => x - y);
    const median = (list: number[]) => quantile([...list].sort((x, y) => x - y), 0.5);
    console.log(`A = ${sides.A}: median ${median(micros.A).toFixed(0)} µs CPU per Chat`);
    console.log(`B = ${sides.B}: median ${median(micros.B).toFixed(0)} µs CPU per Chat`);
    console.log(
      `B/A paired over ${rounds} rounds at concurrency ${concurrency}: median ${quantile(ratios, 0.5).toFixed(3)} ` +
        `(quartiles ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)})`,
    );
  } finally {
    for (const gateway of gateways.values()) await gateway.close();
    await upstream.close();
  }
}

runBenchScript(main);
