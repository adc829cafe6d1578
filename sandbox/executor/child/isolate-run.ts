/**
 * One execution inside a sandbox process: a fresh isolate and context, the
 * guest prelude, the agent function, and a watchdog that disposes the isolate
 * when time is up. isolated-vm's own `timeout` does not cover code that runs
 * after an awaited host call, so the watchdog is the only clock that counts.
 *
 * The host (this process) never calls a `*Sync` isolated-vm method once agent
 * code may be running, so a runaway guest can never block this event loop.
 */
import type ivmModule from "isolated-vm";
import { createLogCollector } from "../log-collector.js";
import {
  agentScriptFilename,
  type ChildLimits,
  type ChildOutcome,
  isId,
  isName,
  maxRequestJsonBytes,
  outputLimitOutcome,
  parseLogLevel,
  type WireReply,
} from "../protocol.js";
import { createSdkGate } from "../sdk-gate.js";
import type { LogLevel } from "../types.js";
import { guestPrelude, guestPreludeFilename } from "./guest-prelude.js";

type Ivm = typeof ivmModule;

/** What one run sends out of the sandbox process. */
export interface RunOutput {
  log(level: LogLevel, text: string): void;
  logsDropped(): void;
  sdkCall(callId: number, service: string, method: string, requestJson: string): void;
}

/** One run in progress. */
export interface IsolateRun {
  /** Settles when the run ended, for whatever reason; the isolate is disposed by then. */
  readonly outcome: Promise<ChildOutcome>;
  /** Hands the answer of an SDK call to the guest. */
  deliver(callId: number, reply: WireReply): void;
  /** Disposes the isolate now (the parent gave up on this run). */
  cancel(): void;
}

type StopReason =
  | { readonly kind: "canceled" }
  | {
      readonly kind: "limit";
      readonly limit: "wall-time" | "sdk-calls" | "concurrent-sdk-calls";
      readonly message: string;
    };

/**
 * Starts one run of already-transpiled agent code.
 *
 * @example
 * const run = startIsolateRun(ivm, { js, services, limits }, output);
 * const outcome = await run.outcome;
 */
export function startIsolateRun(
  ivm: Ivm,
  job: {
    readonly js: string;
    readonly services: Readonly<Record<string, readonly string[]>>;
    readonly limits: ChildLimits;
  },
  output: RunOutput,
): IsolateRun {
  const { limits } = job;
  let isolate: ivmModule.Isolate;
  try {
    isolate = new ivm.Isolate({
      memoryLimit: limits.memoryMb,
      // V8 lost control of this isolate; the process cannot be trusted any more
      onCatastrophicError: () => process.abort(),
    });
  } catch {
    return {
      outcome: Promise.resolve({ kind: "internal", message: "no isolate could be created" }),
      deliver() {},
      cancel() {},
    };
  }
  const logs = createLogCollector(limits);
  const gate = createSdkGate({ maxSdkCalls: limits.maxSdkCalls, maxConcurrentSdkCalls: limits.maxConcurrentSdkCalls });
  const pendingCalls = new Set<number>();
  let stopReason: StopReason | undefined;
  let reported: ChildOutcome | undefined;
  let finished = false;
  let resolveCall: ivmModule.Reference<unknown> | undefined;

  const dispose = () => {
    try {
      if (!isolate.isDisposed) isolate.dispose();
    } catch {
      // already gone
    }
  };
  const stop = (reason: StopReason) => {
    if (finished || stopReason !== undefined) return;
    stopReason = reason;
    dispose();
  };
  const watchdog = setTimeout(
    () => stop({ kind: "limit", limit: "wall-time", message: `the code ran longer than ${limits.wallTimeMs} ms` }),
    limits.wallTimeMs,
  );

  const answer = (callId: number, reply: WireReply) => {
    const target = resolveCall;
    if (finished || target === undefined || isolate.isDisposed) return;
    try {
      target.apply(undefined, [callId, ...reply]).catch(() => undefined);
    } catch {
      // the isolate went away between the check and the call
    }
  };

  // Host callbacks. They run on this process's main thread, take only
  // primitives, never throw into the guest, and return only primitives.
  const startCall = (callId: unknown, service: unknown, method: unknown, requestJson: unknown): void => {
    if (finished || stopReason !== undefined || reported !== undefined) return;
    if (!isId(callId) || pendingCalls.has(callId)) return;
    if (!isName(service) || !isName(method) || typeof requestJson !== "string") {
      answer(callId, ["error", "invalid_argument", "malformed SDK call"]);
      return;
    }
    const decision = gate.admit(service, method);
    if (decision.kind === "limit") {
      stop({ kind: "limit", limit: decision.limit, message: decision.message });
      return;
    }
    if (decision.kind === "reject") {
      answer(callId, ["error", decision.code, decision.message]);
      return;
    }
    if (Buffer.byteLength(requestJson, "utf8") > maxRequestJsonBytes) {
      gate.settle();
      answer(callId, ["error", "invalid_argument", `the request is larger than ${maxRequestJsonBytes} bytes`]);
      return;
    }
    pendingCalls.add(callId);
    output.sdkCall(callId, service, method, requestJson);
  };
  const emitLog = (level: unknown, text: unknown): boolean => {
    if (finished || logs.truncated) return false;
    const parsedLevel = parseLogLevel(level);
    if (parsedLevel === undefined || typeof text !== "string") return !logs.truncated;
    const line = logs.add(parsedLevel, text);
    if (line !== undefined) output.log(line.level, line.text);
    if (logs.truncated) output.logsDropped();
    return !logs.truncated;
  };
  const report = (kind: unknown, first: unknown, second: unknown, third: unknown): void => {
    if (finished || reported !== undefined) return;
    if (kind === "ok" && typeof first === "string") {
      reported =
        Buffer.byteLength(first, "utf8") > limits.maxOutputBytes
          ? outputLimitOutcome(limits.maxOutputBytes)
          : { kind: "ok", returnJson: first };
    } else if (kind === "output") {
      reported = outputLimitOutcome(limits.maxOutputBytes);
    } else if (kind === "error" && typeof first === "string" && typeof second === "string") {
      reported = { kind: "error", name: first, message: second, stack: typeof third === "string" ? third : "" };
    }
  };

  const run = async (): Promise<ChildOutcome> => {
    const context = await isolate.createContext();
    const config = JSON.stringify({
      services: job.services,
      maxOutputBytes: limits.maxOutputBytes,
      maxLogBytes: limits.maxLogBytes,
    });
    const exports = await context.evalClosure(
      guestPrelude,
      [new ivm.Callback(startCall), new ivm.Callback(emitLog), new ivm.Callback(report), config],
      { result: { reference: true }, filename: guestPreludeFilename },
    );
    resolveCall = await exports.get(0, { reference: true });
    const runAgent = await exports.get(1, { reference: true });
    exports.release();
    let script: ivmModule.Script;
    try {
      script = await isolate.compileScript(job.js, { filename: agentScriptFilename });
    } catch (error) {
      if (isolate.isDisposed) throw error;
      // V8 puts the position at the end: "Identifier 'a' has already been declared [agent.js:5:9]"
      const text = (error instanceof Error ? error.message : "the agent code could not be compiled").slice(0, 2000);
      const position = /\s*\[(agent\.js:\d+:\d+)\]$/.exec(text);
      const message = position === null ? text : text.slice(0, position.index);
      const stack = `SyntaxError: ${message}${position === null ? "" : `\n    at ${position[1]}`}`;
      return { kind: "error", name: "SyntaxError", message, stack };
    }
    const main = await script.run(context, { reference: true });
    if (main.typeof !== "function") {
      return { kind: "internal", message: "the agent code did not evaluate to a function" };
    }
    await runAgent.apply(undefined, [main.derefInto()], { result: { promise: true } });
    return reported ?? { kind: "internal", message: "the agent code finished without a result" };
  };

  const outcome = run().then(
    (result) => result,
    (): ChildOutcome => {
      // the code did finish (a stop or the memory limit raced its report)
      if (reported !== undefined) return reported;
      if (stopReason?.kind === "limit") return { kind: "limit", limit: stopReason.limit, message: stopReason.message };
      if (stopReason?.kind === "canceled") return { kind: "canceled" };
      if (isolate.isDisposed) {
        return {
          kind: "limit",
          limit: "memory",
          message: `the code used more than the ${limits.memoryMb} MB memory limit`,
        };
      }
      return { kind: "internal", message: "the isolate failed" };
    },
  );
  const settled = outcome.then((result) => {
    finished = true;
    clearTimeout(watchdog);
    dispose();
    return result;
  });

  return {
    outcome: settled,
    deliver(callId, reply) {
      if (!pendingCalls.delete(callId)) return;
      gate.settle();
      answer(callId, reply);
    },
    cancel() {
      stop({ kind: "canceled" });
    },
  };
}
