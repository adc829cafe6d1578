/**
 * Whether this machine's cores keep their speed: the same fixed work, run
 * on every core at once (each in a process pinned to it), counted second
 * by second. Nothing of protogate runs.
 *
 *   npx tsx bench/host-drift.ts [--seconds 40] [--work contract|arithmetic]
 *
 * `contract` is the kind of work a gateway does: a Chat request decoded
 * from JSON with protobuf-es, checked with protovalidate, written back as
 * JSON. `arithmetic` is an integer loop that touches no memory. On the
 * 2-vCPU VM of docs/benchmarks.md the contract work changed speed by
 * about 1.5×, on one core and not the other, for tens of seconds at a
 * time, while the arithmetic did not move: what a benchmark window
 * measures depends on when it runs, which is why bench:gateway compares
 * targets round by round.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { ChatRequestSchema } from "../gen/protogate/v1/inference_service_pb.js";
import { type BenchChild, runBenchScript, startChild } from "./child-processes.js";
import { allowedCpus, pinProcess } from "./cpu-placement.js";
import { median } from "./load-generator.js";

type Work = "contract" | "arithmetic";

/** Runs `work` for `seconds`, printing `units N` after each second: how many fixed batches of it were done. */
function runWork(work: Work, seconds: number): void {
  const validator = createValidator();
  const text = JSON.stringify({ model: "Llama-3.2-1B-Instruct-Q4_K_M.gguf", messages: [{ role: "ROLE_USER", content: "Say hello in one short sentence." }] });
  let sink = 0;
  const batch =
    work === "contract"
      ? () => {
          for (let index = 0; index < 50; index++) {
            const message = fromJsonString(ChatRequestSchema, text);
            if (validator.validate(ChatRequestSchema, message).kind === "valid") sink += toJsonString(ChatRequestSchema, message).length;
          }
        }
      : () => {
          for (let index = 0; index < 10_000; index++) sink = (sink * 1_103_515_245 + 12_345) % 2_147_483_648;
        };
  for (let second = 0; second < seconds; second++) {
    const end = performance.now() + 1000;
    let units = 0;
    while (performance.now() < end) {
      batch();
      units++;
    }
    console.log(`units ${units}${sink < 0 ? " " : ""}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "40" }, work: { type: "string", default: "contract" }, child: { type: "boolean", default: false } } });
  const seconds = Number(values.seconds);
  const work = values.work as Work;
  if (work !== "contract" && work !== "arithmetic") throw new Error("--work must be contract or arithmetic");
  if (values.child) return runWork(work, seconds);

  const cpus = allowedCpus() ?? [0];
  const script = fileURLToPath(import.meta.url);
  const series = new Map<number, number[]>();
  const children: Array<{ cpu: number; child: BenchChild }> = cpus.map((cpu) => {
    const child = startChild(`cpu ${cpu}`, process.execPath, ["--import", "tsx", script, "--child", "--work", work, "--seconds", String(seconds)], { cwd: process.cwd() });
    pinProcess(child.pid, String(cpu));
    series.set(cpu, []);
    child.onLine((line) => {
      const units = /^units (\d+)/.exec(line)?.[1];
      if (units !== undefined) series.get(cpu)?.push(Number(units));
    });
    return { cpu, child };
  });
  await Promise.all(children.map(({ child }) => child.waitForLine(new RegExp(`^units`), 30_000)));
  await Promise.all(children.map(({ child }) => new Promise((resolve) => child.process.once("exit", resolve))));

  console.log(`${work} work, batches per second, one process pinned to each CPU, all at once:`);
  const medians: number[] = [];
  for (const [cpu, rates] of series) {
    // The first second includes start-up and compilation.
    const steady = rates.slice(1);
    const low = Math.min(...steady);
    const high = Math.max(...steady);
    console.log(`CPU ${cpu}: ${steady.join(" ")}`);
    const middle = median(steady);
    medians.push(middle);
    console.log(`  slowest ${low}, median ${middle}, fastest ${high}: fastest / slowest ${(high / Math.max(1, low)).toFixed(2)}`);
  }
  if (medians.length > 1) console.log(`between CPUs: medians ${medians.join(", ")}: fastest / slowest ${(Math.max(...medians) / Math.max(1, Math.min(...medians))).toFixed(2)}`);
}

runBenchScript(main);
