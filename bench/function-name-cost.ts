/**
 * What esbuild's `keepNames` (on in tsx, off in bin/typescript-hooks.js)
 * costs per function made: the same small module, compiled by esbuild with
 * and without it, makes two named arrows per call; alternating rounds time
 * a few million calls of each.
 *
 *   npx tsx bench/function-name-cost.ts [--calls 2000000] [--rounds 5]
 *
 * Prints nanoseconds per function made, by variant (median of rounds).
 */
import { parseArgs } from "node:util";
import { transform } from "esbuild";
import { runBenchScript } from "./child-processes.js";
import { median } from "./load-generator.js";

/** Two named arrows per call, as a request handler makes its `finish` and `abortReason`. */
const moduleSource = `
export function handle(i: number): number {
  const finish = (x: number) => x + i;
  const reason = () => i;
  return finish(1) + reason();
}
`;

type Handle = (i: number) => number;

/** The module compiled by esbuild, loaded from a data: URL. */
async function compiled(keepNames: boolean): Promise<Handle> {
  const { code } = await transform(moduleSource, { loader: "ts", format: "esm", target: "node20", keepNames });
  if (keepNames !== code.includes("__name(")) throw new Error(`keepNames ${keepNames}, but the output says otherwise:\n${code}`);
  const module = (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as { handle: Handle };
  return module.handle;
}

/** Nanoseconds per function made, over `calls` calls (each makes two). */
function time(handle: Handle, calls: number): number {
  let sum = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sum += handle(i);
  const elapsed = Number(process.hrtime.bigint() - started);
  if (sum === 0) throw new Error("unreachable: keeps the loop from being dropped");
  return elapsed / calls / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: "string", default: "2000000" }, rounds: { type: "string", default: "5" } } });
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const variants = [
    { label: "without keepNames (bin/typescript-hooks.js)", handle: await compiled(false), ns: [] as number[] },
    { label: "with keepNames (tsx)", handle: await compiled(true), ns: [] as number[] },
  ];
  for (const variant of variants) time(variant.handle, calls / 10); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) variant.ns.push(time(variant.handle, calls));
  }
  console.log(`${calls} calls × 2 functions, ${rounds} rounds, Node ${process.version}`);
  console.log("| esbuild output | ns per function made (median) | range |");
  console.log("| --- | ---: | ---: |");
  for (const { label, ns } of variants) {
    console.log(`| ${label} | ${median(ns).toFixed(1)} | ${Math.min(...ns).toFixed(1)}–${Math.max(...ns).toFixed(1)} |`);
  }
}

runBenchScript(main);
