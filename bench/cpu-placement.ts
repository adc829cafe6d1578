/**
 * Which CPUs a benchmark's processes run on: each server under test on a
 * core of its own, the harness (the load generator and the fixed
 * upstream) on the others.
 *
 * Why: a closed-loop load generator and the upstream use CPU in
 * proportion to the throughput they drive. On a 2-core machine, sharing
 * both cores with the gateway, they take more of its core the faster the
 * gateway is (at concurrency 32, 115 µs per request through protogate:
 * half a core at its rate; 200 µs through Portkey: a fifth of a core), so
 * a throughput ratio of two gateways understates the faster one, and the
 * scheduler's choices make its rounds swing (2 917–5 540 req/s in one
 * run). Pinned, every gateway gets the same one core
 * whatever its speed, and the harness never competes with it. The
 * servers' CPU per request, which does not depend on placement, is
 * reported either way (docs/benchmarks.md, "Where the processes run").
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** `pinned`: servers on one core, the harness on the rest. `shared`: everything wherever the scheduler puts it. */
export type CpuPlacementMode = "pinned" | "shared";

/** The placement a run uses; the CPU lists are in taskset's syntax ("1", "0,2"). */
export type CpuPlacement =
  | { readonly mode: "shared" }
  | { readonly mode: "pinned"; readonly serverCpus: string; readonly harnessCpus: string };

/**
 * The placement for `requested`: "auto" pins when it can (Linux, `taskset`
 * installed, at least two CPUs allowed to this process) and shares
 * otherwise; "pinned" throws when it cannot. `cpus`: the CPUs to place on
 * (default: those this process may use).
 *
 * @example
 * const placement = planCpuPlacement("auto"); // { mode: "pinned", serverCpus: "1", harnessCpus: "0" } on 2 cores
 */
export function planCpuPlacement(requested: CpuPlacementMode | "auto", cpus = allowedCpus()): CpuPlacement {
  if (requested === "shared") return { mode: "shared" };
  const obstacle = pinningObstacle(cpus);
  if (obstacle === undefined && cpus !== undefined) {
    return { mode: "pinned", serverCpus: String(cpus[cpus.length - 1]), harnessCpus: cpus.slice(0, -1).join(",") };
  }
  if (requested === "pinned") throw new Error(`--cpu-placement pinned: ${obstacle}; use --cpu-placement shared`);
  return { mode: "shared" };
}

/** Why the servers cannot get a core of their own, or undefined when they can. */
function pinningObstacle(cpus: readonly number[] | undefined): string | undefined {
  if (cpus === undefined) return "the CPUs this process may use are unknown (not Linux?)";
  if (cpus.length < 2) return `only ${cpus.length} CPU is available`;
  return tasksetMissing();
}

/** Binds every thread of process `pid` to `cpus`; threads it starts later inherit the binding. */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync("taskset", ["--all-tasks", "--pid", "--cpu-list", cpus, String(pid)], { stdio: "ignore" });
}

/** This process's allowed CPUs, ascending, from `Cpus_allowed_list` ("0-1", "0,2-3"); undefined when unreadable. */
export function allowedCpus(status = readStatus()): number[] | undefined {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status ?? "")?.[1];
  if (list === undefined) return undefined;
  const cpus: number[] = [];
  for (const range of list.split(",")) {
    const [first, last = first] = range.split("-").map(Number);
    if (first === undefined || last === undefined || !Number.isInteger(first) || !Number.isInteger(last) || last < first) return undefined;
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

function readStatus(): string | undefined {
  try {
    return readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
}

/** Why taskset cannot be used, or undefined when it can. */
function tasksetMissing(): string | undefined {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "taskset (util-linux) is not installed";
  }
}
