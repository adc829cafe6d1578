/**
 * The process pool: warm start, crash and hang recovery, aborts, concurrency
 * and shutdown. Each test owns its executor so restarts are counted exactly.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createSandboxExecutor, type SandboxExecutor } from "../../../sandbox/executor/index.js";
import { createFakeSdk, createHangingSdk, isAlive, services } from "./harness.js";

const open: SandboxExecutor[] = [];

function create(options: Parameters<typeof createSandboxExecutor>[0]): SandboxExecutor {
  const executor = createSandboxExecutor(options);
  open.push(executor);
  return executor;
}

afterEach(async () => {
  for (const executor of open.splice(0)) {
    const { pids } = executor.stats();
    await executor.close();
    expect(executor.stats()).toMatchObject({ workers: 0, pids: [] });
    expect(pids.filter(isAlive)).toEqual([]);
  }
});

const normal = "const { models } = await gateway.models.listModels({});\nreturn models.map((m) => m.name);";

async function expectHealthy(executor: SandboxExecutor): Promise<void> {
  const result = await executor.execute({ code: normal, services, callSdk: createFakeSdk().callSdk });
  expect(result).toMatchObject({ kind: "ok", returnJson: '["llama3","qwen"]' });
}

/** Resolves once callSdk was entered (the execution is running inside a child). */
function sdkEntered(): { sdk: ReturnType<typeof createHangingSdk>; entered: Promise<void> } {
  let signal: () => void = () => undefined;
  const entered = new Promise<void>((resolve) => {
    signal = resolve;
  });
  const hanging = createHangingSdk();
  const sdk = {
    calls: hanging.calls,
    callSdk: (call: Parameters<typeof hanging.callSdk>[0]) => {
      const reply = hanging.callSdk(call);
      signal();
      return reply;
    },
  };
  return { sdk, entered };
}

describe("sandbox process pool", () => {
  it("starts warm, runs children without the parent's environment and under the permission model", async () => {
    const executor = create({ poolSize: 2 });
    await expectHealthy(executor);
    const { pids, workers } = executor.stats();
    expect(workers).toBe(2);
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      expect(pid).not.toBe(process.pid);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      expect(cmdline.some((arg) => /^--(experimental-)?permission$/.test(arg))).toBe(true);
      expect(cmdline).toContain("--disallow-code-generation-from-strings");
      const environment = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((v) => v.length > 0);
      expect(environment.map((v) => v.split("=")[0]).filter((name) => !name?.startsWith("NODE_CHANNEL_"))).toEqual([]);
    }
  });

  it("reports a killed child as a crash, replaces it and keeps serving", async () => {
    const executor = create({ poolSize: 1, limits: { wallTimeMs: 10_000 } });
    await expectHealthy(executor);
    const [victim] = executor.stats().pids;
    if (victim === undefined) throw new Error("no child");
    const { sdk, entered } = sdkEntered();
    const pending = executor.execute({ code: normal, services, callSdk: sdk.callSdk });
    await entered;
    expect(executor.stats()).toMatchObject({ busy: 1, running: 1 });
    process.kill(victim, "SIGKILL");
    const result = await pending;
    expect(result).toMatchObject({ kind: "limit", limit: "crash" });
    if (result.kind === "limit") expect(result.message).toContain("SIGKILL");
    expect(sdk.calls[0]?.signal.aborted).toBe(true);
    expect(isAlive(victim)).toBe(false);
    await expectHealthy(executor);
    const stats = executor.stats();
    expect(stats).toMatchObject({ workers: 1, restarts: 1, busy: 0, running: 0 });
    expect(stats.pids[0]).not.toBe(victim);
  });

  it("kills a child that stops answering and reports wall-time", async () => {
    const executor = create({ poolSize: 1, limits: { wallTimeMs: 300 } });
    await expectHealthy(executor);
    const [frozen] = executor.stats().pids;
    if (frozen === undefined) throw new Error("no child");
    const { sdk, entered } = sdkEntered();
    const pending = executor.execute({ code: normal, services, callSdk: sdk.callSdk });
    await entered;
    process.kill(frozen, "SIGSTOP"); // its own watchdog can no longer run
    const result = await pending;
    expect(result).toMatchObject({ kind: "limit", limit: "wall-time" });
    if (result.kind === "limit") expect(result.message).toContain("stopped answering");
    await expectHealthy(executor);
    expect(isAlive(frozen)).toBe(false);
    expect(executor.stats()).toMatchObject({ workers: 1, restarts: 1 });
  });

  it("runs 20 concurrent executions, all correct", async () => {
    const executor = create({ poolSize: 2 });
    const sdk = createFakeSdk();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        executor.execute({
          code: `const reply = await gateway.inference.chat({ messages: [{ content: "n${i}" }] });\nconsole.log(reply.text);\nreturn reply.text;`,
          services,
          callSdk: sdk.callSdk,
        }),
      ),
    );
    results.forEach((result, i) => {
      expect(result).toMatchObject({ kind: "ok", returnJson: JSON.stringify(`echo: n${i}`), logs: [{ level: "log", text: `echo: n${i}` }] });
    });
    expect(sdk.calls).toHaveLength(20);
    expect(executor.stats()).toMatchObject({ workers: 2, restarts: 0, running: 0, queued: 0 });
  });

  it("queues beyond the per-process capacity and runs everything", async () => {
    const executor = create({ poolSize: 1, maxExecutionsPerWorker: 2 });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => executor.execute({ code: `return ${i};`, services, callSdk: createFakeSdk().callSdk })),
    );
    expect(results.map((r) => (r.kind === "ok" ? r.returnJson : r.kind))).toEqual(["0", "1", "2", "3", "4", "5"]);
  });

  it("abandons a running execution when its signal aborts, and one still queued", async () => {
    const executor = create({ poolSize: 1, maxExecutionsPerWorker: 1, limits: { wallTimeMs: 10_000 } });
    const controller = new AbortController();
    const { sdk, entered } = sdkEntered();
    const running = executor.execute({ code: normal, services, callSdk: sdk.callSdk, signal: controller.signal });
    const queuedController = new AbortController();
    const queued = executor.execute({ code: "return 1;", services, callSdk: createFakeSdk().callSdk, signal: queuedController.signal });
    await entered;
    expect(executor.stats()).toMatchObject({ running: 1, queued: 1 });
    queuedController.abort();
    expect(await queued).toMatchObject({ kind: "error", error: { name: "AbortError" }, durationMs: 0 });
    controller.abort();
    const result = await running;
    expect(result).toMatchObject({ kind: "error", error: { name: "AbortError" } });
    expect(result.calls).toMatchObject([{ service: "models", method: "listModels", code: "canceled" }]);
    expect(sdk.calls[0]?.signal.aborted).toBe(true);
    await expectHealthy(executor);
    expect(executor.stats()).toMatchObject({ restarts: 0, running: 0 });
  });

  it("answers an already aborted request without running it", async () => {
    const executor = create({ poolSize: 1 });
    const sdk = createFakeSdk();
    const result = await executor.execute({ code: normal, services, callSdk: sdk.callSdk, signal: AbortSignal.abort() });
    expect(result).toMatchObject({ kind: "error", error: { name: "AbortError" } });
    expect(sdk.calls).toHaveLength(0);
  });

  it("close() ends running executions as crash, stops every child and refuses new work", async () => {
    const executor = createSandboxExecutor({ poolSize: 2, limits: { wallTimeMs: 10_000 } });
    await expectHealthy(executor);
    const { pids } = executor.stats();
    const { sdk, entered } = sdkEntered();
    const pending = executor.execute({ code: normal, services, callSdk: sdk.callSdk });
    await entered;
    await Promise.all([executor.close(), executor.close()]);
    expect(await pending).toMatchObject({ kind: "limit", limit: "crash" });
    expect(pids.filter(isAlive)).toEqual([]);
    expect(executor.stats()).toMatchObject({ workers: 0, busy: 0, running: 0, pids: [] });
    await expect(executor.execute({ code: "return 1;", services, callSdk: sdk.callSdk })).rejects.toThrow(/closed/);
  });

  it("rejects malformed options and requests as programmer errors", async () => {
    const executor = create({ poolSize: 1 });
    expect(() => createSandboxExecutor({ limits: { memoryMb: 4 } })).toThrow(RangeError);
    await expect(
      executor.execute({ code: "", services, callSdk: createFakeSdk().callSdk, limits: { wallTimeMs: 0 } }),
    ).rejects.toThrow(RangeError);
    await expect(
      executor.execute({ code: "", services: { models: [""] }, callSdk: createFakeSdk().callSdk }),
    ).rejects.toThrow(TypeError);
  });
});
