import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allowedCpus, pinProcess, planCpuPlacement } from "../../bench/cpu-placement.js";

describe("the benchmark's CPU placement", () => {
  it("reads the allowed CPUs from a status file's Cpus_allowed_list", () => {
    expect(allowedCpus("Name:\tnode\nCpus_allowed_list:\t0-1\n")).toEqual([0, 1]);
    expect(allowedCpus("Cpus_allowed_list:\t0,2-3,7\n")).toEqual([0, 2, 3, 7]);
    expect(allowedCpus("Cpus_allowed_list:\t3-1\n")).toBeUndefined();
    expect(allowedCpus("Cpus_allowed_list:\tx\n")).toBeUndefined();
    expect(allowedCpus("Name:\tnode\n")).toBeUndefined();
  });

  it("gives servers the last CPU and the harness the others, and shares when one CPU is all there is", () => {
    expect(planCpuPlacement("auto", [0, 1])).toEqual({ mode: "pinned", serverCpus: "1", harnessCpus: "0" });
    expect(planCpuPlacement("pinned", [0, 2, 3])).toEqual({ mode: "pinned", serverCpus: "3", harnessCpus: "0,2" });
    expect(planCpuPlacement("auto", [0])).toEqual({ mode: "shared" });
    expect(planCpuPlacement("shared", [0, 1])).toEqual({ mode: "shared" });
    expect(() => planCpuPlacement("pinned", [0])).toThrow(/only 1 CPU is available.*--cpu-placement shared/);
  });

  it("binds every thread of a running process to the CPU it is given", async () => {
    const cpu = (allowedCpus() ?? [0]).at(-1) ?? 0;
    // A Node process has several threads (V8's and libuv's) from the start.
    const child = spawn(process.execPath, ["-e", "process.stdout.write('up'); setInterval(() => {}, 1000)"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      await new Promise((resolve) => child.stdout.once("data", resolve));
      const pid = child.pid as number;
      pinProcess(pid, String(cpu));
      const threads = readFileSync(`/proc/${pid}/status`, "utf8").match(/^Threads:\s*(\d+)$/m)?.[1];
      expect(Number(threads)).toBeGreaterThan(1);
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        expect(allowedCpus(readFileSync(`/proc/${pid}/task/${task}/status`, "utf8"))).toEqual([cpu]);
      }
    } finally {
      child.kill();
    }
  });
});
