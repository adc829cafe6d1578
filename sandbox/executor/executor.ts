/**
 * The sandbox executor: a pool of child processes, each hosting one fresh
 * isolated-vm isolate per execution. The parent is the authority on SDK
 * calls (allowlist, counts, the caller's callback) and keeps backstop timers
 * that kill a child that stops answering.
 */
import { type ChildProcess, fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { type AgentCodeMap, cleanGuestStack, mapLogPositions, prepareAgentCode } from "./agent-code.js";
import { type ChildProgram, prepareChildProgram } from "./child-program.js";
import { createLogCollector, type LogCollector, truncateUtf8 } from "./log-collector.js";
import {
  type ChildMessage,
  type ChildOutcome,
  outputLimitOutcome,
  type ParentMessage,
  parseChildMessage,
  parseServices,
  type WireReply,
} from "./protocol.js";
import { createSdkGate, type SdkGate } from "./sdk-gate.js";
import {
  type ExecutionLimits,
  type ExecutionOutcome,
  type ExecutionRequest,
  type ExecutionResult,
  resolveLimits,
  type SandboxExecutor,
  type SandboxExecutorOptions,
  type SdkCallTrace,
} from "./types.js";

/** How long a child may take past the wall time to report, or to confirm a cancel, before it is killed. */
const unresponsiveGraceMs = 2000;
/** How long a child may take to start. */
const startTimeoutMs = 15_000;
/** Longest SdkError message passed to the guest. */
const maxSdkErrorMessageBytes = 4096;

interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  ready: boolean;
  /** Killed or exiting: takes no new executions. */
  dying: boolean;
  exited: boolean;
  readonly runs: Map<number, Execution>;
  startTimer: NodeJS.Timeout | undefined;
}

interface InFlightCall {
  readonly service: string;
  readonly method: string;
  readonly startedAt: number;
  readonly controller: AbortController;
}

interface Execution {
  readonly id: number;
  readonly request: ExecutionRequest;
  readonly limits: ExecutionLimits;
  /** The transpiled code and what maps its stacks back. */
  readonly code: AgentCodeMap & { readonly js: string };
  readonly logs: LogCollector;
  readonly gate: SdkGate;
  readonly calls: SdkCallTrace[];
  readonly inFlight: Map<number, InFlightCall>;
  readonly resolve: (result: ExecutionResult) => void;
  worker: Worker | undefined;
  startedAt: number;
  finished: boolean;
  backstop: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
}

const errorCodePattern = /^[a-z_]{1,64}$/;

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

/** Turns the caller's answer into what the guest receives; nothing else of it crosses. */
function toWireReply(reply: unknown): WireReply {
  if (typeof reply === "object" && reply !== null) {
    const r = reply as Record<string, unknown>;
    if (r["kind"] === "ok" && typeof r["responseJson"] === "string") return ["ok", r["responseJson"]];
    if (r["kind"] === "error" && typeof r["code"] === "string" && errorCodePattern.test(r["code"])) {
      const message = typeof r["message"] === "string" ? r["message"] : "";
      return ["error", r["code"], truncateUtf8(message, maxSdkErrorMessageBytes)];
    }
  }
  return ["error", "internal", "the SDK call failed"];
}

/**
 * Creates the executor and starts its sandbox processes right away, so the
 * first execution does not pay for process start.
 *
 * @example
 * const executor = createSandboxExecutor({ poolSize: 2, limits: { wallTimeMs: 3000 } });
 * const result = await executor.execute({
 *   code: 'const { models } = await gateway.models.listModels({});\nreturn models.length;',
 *   services: { models: ["listModels"] },
 *   callSdk: async (call) => ({ kind: "ok", responseJson: JSON.stringify(await listModels(call)) }),
 * });
 * if (result.kind === "ok") JSON.parse(result.returnJson);
 * await executor.close();
 */
export function createSandboxExecutor(options: SandboxExecutorOptions = {}): SandboxExecutor {
  const poolSize = Math.max(1, Math.floor(options.poolSize ?? 2));
  const perWorker = Math.max(1, Math.floor(options.maxExecutionsPerWorker ?? 8));
  const baseLimits = resolveLimits(options.limits);
  const program: ChildProgram = prepareChildProgram();
  const workers = new Set<Worker>();
  const queue: Execution[] = [];
  let nextId = 1;
  let restarts = 0;
  let failedStarts = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  const respawnTimers = new Set<NodeJS.Timeout>();

  const send = (worker: Worker, message: ParentMessage): void => {
    if (worker.exited || !worker.child.connected) return;
    worker.child.send(message, (error) => {
      if (error !== null) kill(worker);
    });
  };

  const kill = (worker: Worker): void => {
    worker.dying = true;
    if (!worker.exited) worker.child.kill("SIGKILL");
  };

  const finish = (execution: Execution, outcome: ExecutionOutcome): void => {
    if (execution.finished) return;
    execution.finished = true;
    clearTimeout(execution.backstop);
    if (execution.onAbort !== undefined) execution.request.signal?.removeEventListener("abort", execution.onAbort);
    for (const call of execution.inFlight.values()) {
      call.controller.abort();
      execution.calls.push({
        service: call.service,
        method: call.method,
        durationMs: elapsed(call.startedAt),
        code: "canceled",
      });
    }
    execution.inFlight.clear();
    const worker = execution.worker;
    if (worker !== undefined && worker.runs.has(execution.id)) {
      // the child still runs it: dispose the isolate, and kill the child if it does not confirm
      send(worker, { t: "cancel", id: execution.id });
      execution.backstop = setTimeout(() => kill(worker), unresponsiveGraceMs);
    }
    const report = {
      logs: execution.logs.lines(),
      calls: execution.calls.slice(),
      durationMs: execution.worker === undefined ? 0 : elapsed(execution.startedAt),
    };
    execution.resolve({ ...outcome, ...report });
  };

  const fromChild = (execution: Execution, outcome: ChildOutcome): ExecutionOutcome => {
    switch (outcome.kind) {
      case "ok":
        return Buffer.byteLength(outcome.returnJson, "utf8") > execution.limits.maxOutputBytes
          ? outputLimitOutcome(execution.limits.maxOutputBytes)
          : outcome;
      case "error": {
        const name = outcome.name.slice(0, 200) || "Error";
        const message = outcome.message.slice(0, 8192);
        const stack = cleanGuestStack({ name, message, stack: outcome.stack }, execution.code);
        return { kind: "error", error: { name, message, stack } };
      }
      case "limit":
        return outcome;
      case "canceled":
        return { kind: "limit", limit: "crash", message: "the execution was canceled by the sandbox" };
      case "internal":
        return { kind: "limit", limit: "crash", message: `the sandbox failed: ${outcome.message.slice(0, 200)}` };
    }
  };

  const onSdkCall = (execution: Execution, worker: Worker, message: Extract<ChildMessage, { t: "sdk-call" }>) => {
    if (execution.finished) return;
    const { callId, service, method, requestJson } = message;
    const reply = (wire: WireReply) => send(worker, { t: "sdk-result", id: execution.id, callId, reply: wire });
    const decision = execution.gate.admit(service, method);
    if (decision.kind === "limit") {
      finish(execution, { kind: "limit", limit: decision.limit, message: decision.message });
      return;
    }
    if (decision.kind === "reject") {
      execution.calls.push({ service, method, durationMs: 0, code: decision.code });
      reply(["error", decision.code, decision.message]);
      return;
    }
    const call: InFlightCall = { service, method, startedAt: performance.now(), controller: new AbortController() };
    execution.inFlight.set(callId, call);
    const settle = (wire: WireReply) => {
      if (execution.finished || execution.inFlight.get(callId) !== call) return;
      execution.inFlight.delete(callId);
      execution.gate.settle();
      const code = wire[0] === "ok" ? "ok" : wire[1];
      execution.calls.push({ service, method, durationMs: elapsed(call.startedAt), code });
      reply(wire);
    };
    let pending: Promise<unknown>;
    try {
      const { signal } = call.controller;
      pending = Promise.resolve(execution.request.callSdk({ service, method, requestJson, signal }));
    } catch {
      pending = Promise.reject(new Error("callSdk threw"));
    }
    pending.then(
      (value) => settle(toWireReply(value)),
      () => settle(["error", "internal", "the SDK call failed"]),
    );
  };

  const onMessage = (worker: Worker, raw: unknown): void => {
    const message = parseChildMessage(raw);
    if (message === undefined) return;
    if (message.t === "ready") {
      if (!worker.ready) {
        worker.ready = true;
        failedStarts = 0;
        clearTimeout(worker.startTimer);
        pump();
      }
      return;
    }
    const execution = worker.runs.get(message.id);
    if (execution === undefined) return;
    switch (message.t) {
      case "log":
        if (!execution.finished) execution.logs.add(message.level, mapLogPositions(message.text, execution.code));
        return;
      case "logs-dropped":
        execution.logs.truncate();
        return;
      case "sdk-call":
        onSdkCall(execution, worker, message);
        return;
      case "done":
        worker.runs.delete(execution.id);
        clearTimeout(execution.backstop);
        finish(execution, fromChild(execution, message.outcome));
        pump();
        return;
    }
  };

  const onExit = (worker: Worker, code: number | null, signal: NodeJS.Signals | null): void => {
    if (worker.exited) return;
    worker.exited = true;
    clearTimeout(worker.startTimer);
    workers.delete(worker);
    const how = signal !== null ? `signal ${signal}` : `exit code ${code ?? "unknown"}`;
    const lost = [...worker.runs.values()];
    worker.runs.clear();
    for (const execution of lost) {
      clearTimeout(execution.backstop);
      finish(execution, {
        kind: "limit",
        limit: "crash",
        message: `the sandbox process stopped (${how}); the execution was lost`,
      });
    }
    if (closed) return;
    restarts += 1;
    if (!worker.ready) {
      failedStarts += 1;
      if (failedStarts >= 3) {
        for (const execution of queue.splice(0)) {
          finish(execution, { kind: "limit", limit: "crash", message: "sandbox processes fail to start" });
        }
      }
    }
    const delay = failedStarts === 0 ? 0 : Math.min(5000, 100 * 2 ** failedStarts);
    const timer = setTimeout(() => {
      respawnTimers.delete(timer);
      if (!closed) spawnWorker();
    }, delay);
    respawnTimers.add(timer);
  };

  const spawnWorker = (): void => {
    const child = fork(program.entry, [...program.args], {
      execArgv: [...program.execArgv],
      env: {},
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      serialization: "json",
    });
    const worker: Worker = {
      child,
      pid: child.pid ?? -1,
      ready: false,
      dying: false,
      exited: false,
      runs: new Map(),
      startTimer: undefined,
    };
    worker.startTimer = setTimeout(() => kill(worker), startTimeoutMs);
    workers.add(worker);
    child.on("message", (raw: unknown) => onMessage(worker, raw));
    child.on("exit", (code, signal) => onExit(worker, code, signal));
    child.on("error", () => kill(worker));
  };

  const dispatch = (execution: Execution, worker: Worker): void => {
    execution.worker = worker;
    execution.startedAt = performance.now();
    worker.runs.set(execution.id, execution);
    send(worker, {
      t: "run",
      id: execution.id,
      js: execution.code.js,
      services: execution.request.services,
      limits: execution.limits,
    });
    execution.backstop = setTimeout(() => {
      // the child should have reported wall-time by now: it is stuck
      finish(execution, {
        kind: "limit",
        limit: "wall-time",
        message: `the code ran longer than ${execution.limits.wallTimeMs} ms and its sandbox process stopped answering`,
      });
      kill(worker);
    }, execution.limits.wallTimeMs + unresponsiveGraceMs);
  };

  const pump = (): void => {
    while (queue.length > 0) {
      let best: Worker | undefined;
      for (const worker of workers) {
        if (!worker.ready || worker.dying || worker.exited || worker.runs.size >= perWorker) continue;
        if (best === undefined || worker.runs.size < best.runs.size) best = worker;
      }
      if (best === undefined) return;
      const execution = queue.shift();
      if (execution !== undefined && !execution.finished) dispatch(execution, best);
    }
  };

  const shutDown = async (): Promise<void> => {
    closed = true;
    for (const timer of respawnTimers) clearTimeout(timer);
    respawnTimers.clear();
    for (const execution of queue.splice(0)) {
      finish(execution, { kind: "limit", limit: "crash", message: "the sandbox executor was closed" });
    }
    const exits = [...workers].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.exited) return resolve();
          worker.child.once("exit", () => resolve());
          const lost = [...worker.runs.values()];
          worker.runs.clear();
          for (const execution of lost) {
            finish(execution, { kind: "limit", limit: "crash", message: "the sandbox executor was closed" });
          }
          worker.dying = true;
          const force = setTimeout(() => kill(worker), 1000);
          worker.child.once("exit", () => clearTimeout(force));
          if (worker.child.connected) worker.child.disconnect();
          else kill(worker);
        }),
    );
    await Promise.all(exits);
    program.dispose();
  };

  for (let i = 0; i < poolSize; i++) spawnWorker();

  return {
    execute(request) {
      let limits: ExecutionLimits;
      let prepared: ReturnType<typeof prepareAgentCode>;
      try {
        if (closed) throw new Error("the sandbox executor is closed");
        limits = resolveLimits(baseLimits, request.limits);
        if (parseServices(request.services) === undefined) {
          throw new TypeError("services must map service names to lists of method names");
        }
        if (typeof request.code !== "string") throw new TypeError("code must be a string");
        prepared = prepareAgentCode(request.code);
      } catch (error) {
        return Promise.reject(error);
      }
      if (prepared.kind === "error") {
        return Promise.resolve({ kind: "error", error: prepared.error, logs: [], calls: [], durationMs: 0 });
      }
      return new Promise<ExecutionResult>((resolve) => {
        const execution: Execution = {
          id: nextId++,
          request,
          limits,
          code: prepared,
          logs: createLogCollector(limits),
          gate: createSdkGate({
            services: request.services,
            maxSdkCalls: limits.maxSdkCalls,
            maxConcurrentSdkCalls: limits.maxConcurrentSdkCalls,
          }),
          calls: [],
          inFlight: new Map(),
          resolve,
          worker: undefined,
          startedAt: 0,
          finished: false,
          backstop: undefined,
          onAbort: undefined,
        };
        const abortOutcome: ExecutionOutcome = {
          kind: "error",
          error: {
            name: "AbortError",
            message: "the execution was abandoned by the caller",
            stack: "AbortError: the execution was abandoned by the caller",
          },
        };
        if (request.signal?.aborted === true) {
          finish(execution, abortOutcome);
          return;
        }
        execution.onAbort = () => {
          const index = queue.indexOf(execution);
          if (index >= 0) queue.splice(index, 1);
          finish(execution, abortOutcome);
        };
        request.signal?.addEventListener("abort", execution.onAbort, { once: true });
        queue.push(execution);
        pump();
      });
    },

    close() {
      closing ??= shutDown();
      return closing;
    },

    stats() {
      let busy = 0;
      let running = 0;
      const pids: number[] = [];
      for (const worker of workers) {
        if (worker.runs.size > 0) busy += 1;
        running += worker.runs.size;
        pids.push(worker.pid);
      }
      return { workers: workers.size, busy, restarts, running, queued: queue.length, pids };
    },
  };
}
