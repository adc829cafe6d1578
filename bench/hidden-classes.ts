/**
 * What an object costs on Node 20 when V8 gives each one a hidden class
 * (map) of its own, against the same object built so that all share one.
 *
 *   npx tsx bench/hidden-classes.ts [--objects 1000000]
 *
 * Two patterns on a Chat's path did this (docs/benchmarks.md, "Hidden
 * classes of their own"):
 * - Node 20's AbortSignal: Node makes an EventTarget, swaps its prototype
 *   and then adds fields (fixed in Node 22, nodejs/node#52408);
 * - an object literal that starts with a spread and then gets another
 *   property (`{ ...base, extra }`): V8 11.3 copies the base's map
 *   without linking it into a transition tree.
 *
 * Each case runs in a child process of its own, with `--trace-gc-nvp` for
 * the bytes scavenges promote and `--allow-natives-syntax` to ask V8
 * whether two objects of the case share a map. Reported per object: the
 * wall time of the loop (it yields to the event loop every 1 000 objects,
 * as a server would), and the bytes promoted to the old generation, which
 * are the object outliving the scavenges that should have freed it.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CallAbortController } from "../server/reliability/call-abort-controller.js";
import { type GcEvent, parseGcLine, summarizeBusiestIsolate } from "./gc-trace.js";

const scriptPath = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** A listener shared by every iteration, so the loop makes no closure of its own. */
function ignoreAbort(): void {}

function base(i: number): { id: string; model: string } {
  return { id: `chat-${i}`, model: "m" };
}

/** What a request does with its signal: listen, stop listening, abort (with `reason`). Returns the signal. */
function signalCycle(controller: { readonly signal: AbortSignal; abort(reason?: unknown): void }, reason: number): AbortSignal {
  controller.signal.addEventListener("abort", ignoreAbort, { once: true });
  controller.signal.removeEventListener("abort", ignoreAbort);
  controller.abort(reason);
  return controller.signal;
}

/** Each case builds one object from `i`, as a request would, and returns it. */
const cases: Record<string, (i: number) => object> = {
  "Node AbortController: listen, stop listening, abort": (i) => signalCycle(new AbortController(), i),
  "CallAbortController: listen, stop listening, abort": (i) => signalCycle(new CallAbortController(), i),
  "{ ...base, extra }": (i) => ({ ...base(i), extra: i }),
  "{ extra, ...base }": (i) => ({ extra: i, ...base(i) }),
  "Object.assign({}, base), then .extra =": (i) => {
    const copy: Record<string, unknown> = Object.assign({}, base(i));
    copy.extra = i;
    return copy;
  },
};

interface CaseResult {
  readonly loopMs: number;
  readonly sameHiddenClass: boolean;
}

/** The child: runs one case and prints its result as the last line. */
async function runCase(name: string, objects: number): Promise<void> {
  const build = cases[name];
  if (build === undefined) throw new Error(`unknown case ${name}`);
  // Natives syntax is not TypeScript; V8 parses it in a Function body when the flag is on.
  const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
  // The last object is kept, so the loop's objects are used.
  let last = build(0);
  const started = performance.now();
  for (let i = 0; i < objects; i++) {
    last = build(i);
    if (i % 1000 === 0) await new Promise(setImmediate);
  }
  const loopMs = performance.now() - started;
  const result: CaseResult = { loopMs, sameHiddenClass: haveSameMap(last, build(objects)) };
  console.log(`result ${JSON.stringify(result)}`);
}

/** Runs one case in a child process and reads its GC trace and result. */
function measureCase(name: string, objects: number): Promise<{ result: CaseResult; promotedBytes: number }> {
  const args = ["--trace-gc-nvp", "--allow-natives-syntax", "--import", "tsx", scriptPath, "--case", name, "--objects", String(objects)];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      const lines = output.split("\n");
      const last = lines.findLast((line) => line.startsWith("result "));
      if (code !== 0 || last === undefined) {
        reject(new Error(`case "${name}" exited with ${code}`));
        return;
      }
      const events = lines.map(parseGcLine).filter((event): event is GcEvent => event !== undefined);
      resolve({ result: JSON.parse(last.slice("result ".length)) as CaseResult, promotedBytes: summarizeBusiestIsolate(events).promotedBytes });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { objects: { type: "string", default: "1000000" }, case: { type: "string" } } });
  const objects = Number(values.objects);
  if (values.case !== undefined) {
    await runCase(values.case, objects);
    return;
  }
  console.log(`Node ${process.version}, ${objects} objects per case`);
  console.log("| case | ns per object | promoted B per object | one hidden class for all |");
  console.log("| --- | ---: | ---: | --- |");
  for (const name of Object.keys(cases)) {
    const { result, promotedBytes } = await measureCase(name, objects);
    const nanos = (result.loopMs * 1e6) / objects;
    console.log(`| ${name} | ${nanos.toFixed(0)} | ${(promotedBytes / objects).toFixed(1)} | ${result.sameHiddenClass ? "yes" : "no"} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
