/**
 * Shared pieces of the executor tests: a fake SDK that records what it was
 * asked, and process probes (alive, CPU ticks) for the sandbox children.
 */
import { readFileSync } from "node:fs";
import type { SdkCall, SdkReply } from "../../../sandbox/executor/index.js";

/** The services every test exposes to the guest. */
export const services = {
  inference: ["chat"],
  models: ["listModels", "getModel"],
} as const satisfies Record<string, readonly string[]>;

/** A recording fake of the caller's SDK callback. */
export interface FakeSdk {
  readonly callSdk: (call: SdkCall) => Promise<SdkReply>;
  readonly calls: SdkCall[];
}

/**
 * Answers listModels with two models, getModel with not_found for "missing",
 * chat with an echo of the last message; `answer` overrides all of that.
 */
export function createFakeSdk(answer?: (call: SdkCall) => Promise<SdkReply>): FakeSdk {
  const calls: SdkCall[] = [];
  return {
    calls,
    async callSdk(call) {
      calls.push(call);
      if (answer !== undefined) return answer(call);
      const request = JSON.parse(call.requestJson) as Record<string, unknown>;
      switch (`${call.service}.${call.method}`) {
        case "models.listModels":
          return { kind: "ok", responseJson: JSON.stringify({ models: [{ name: "llama3" }, { name: "qwen" }] }) };
        case "models.getModel":
          return request["model"] === "missing"
            ? { kind: "error", code: "not_found", message: `model "missing" is not served` }
            : { kind: "ok", responseJson: JSON.stringify({ name: request["model"] }) };
        case "inference.chat": {
          const messages = request["messages"] as { content: string }[];
          return { kind: "ok", responseJson: JSON.stringify({ text: `echo: ${messages.at(-1)?.content ?? ""}` }) };
        }
        default:
          return { kind: "error", code: "unimplemented", message: "not faked" };
      }
    },
  };
}

/** A callSdk that never answers until the execution aborts its signal. */
export function createHangingSdk(): FakeSdk {
  return createFakeSdk(
    (call) =>
      new Promise((resolve) => {
        call.signal.addEventListener("abort", () => resolve({ kind: "error", code: "canceled", message: "aborted" }));
      }),
  );
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** User plus system CPU time of a process, in clock ticks (Linux /proc). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * CPU ticks each process burns over a short measuring window (not a
 * synchronisation point: it samples idle processes to prove they are idle).
 */
export async function cpuBurn(pids: readonly number[], windowMs = 400): Promise<number[]> {
  const before = pids.map(cpuTicks);
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  return pids.map((pid, i) => cpuTicks(pid) - (before[i] ?? 0));
}
