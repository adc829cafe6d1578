/**
 * The executor's public vocabulary: limits, the request, tagged results, and
 * the SDK callback the caller supplies. Nothing here knows about Connect or
 * HTTP; the service layer maps results to the proto.
 */

/** Hard limits of one execution. Every one is enforced outside the guest isolate. */
export interface ExecutionLimits {
  /** Wall-clock time from isolate start to result, SDK waits included. */
  readonly wallTimeMs: number;
  /** Heap of the guest isolate (isolated-vm `memoryLimit`, minimum 8). */
  readonly memoryMb: number;
  /** SDK calls per execution (every attempt counts, unknown methods too). */
  readonly maxSdkCalls: number;
  /** SDK calls in flight at once; starting one more ends the execution. */
  readonly maxConcurrentSdkCalls: number;
  /** UTF-8 bytes of the returned value's JSON text. */
  readonly maxOutputBytes: number;
  /** Captured console lines; the last kept line says when more were dropped. */
  readonly maxLogLines: number;
  /** UTF-8 bytes of all captured console text together. */
  readonly maxLogBytes: number;
}

/** The limits used where neither the executor nor the request says otherwise. */
export const defaultExecutionLimits: ExecutionLimits = Object.freeze({
  wallTimeMs: 5000,
  memoryMb: 64,
  maxSdkCalls: 50,
  maxConcurrentSdkCalls: 4,
  maxOutputBytes: 256 * 1024,
  maxLogLines: 200,
  maxLogBytes: 64 * 1024,
});

/** One captured console line. */
export interface LogLine {
  readonly level: LogLevel;
  readonly text: string;
}

/** The console methods the guest has. */
export type LogLevel = "log" | "info" | "warn" | "error" | "debug";

/** One SDK call as the host saw it. `code` is "ok" or the error code it ended with. */
export interface SdkCallTrace {
  readonly service: string;
  readonly method: string;
  readonly durationMs: number;
  readonly code: string;
}

/** What the caller's SDK callback receives: one call, as JSON text. */
export interface SdkCall {
  readonly service: string;
  readonly method: string;
  readonly requestJson: string;
  /** Fires when the execution ends (result, limit, abort) before the call settles. */
  readonly signal: AbortSignal;
}

/**
 * What the SDK callback answers. An error's `code` is a Connect code name
 * ("invalid_argument", "not_found", …) and its message is shown to the guest
 * as `SdkError.message`, so it must be safe to show.
 */
export type SdkReply =
  | { readonly kind: "ok"; readonly responseJson: string }
  | { readonly kind: "error"; readonly code: string; readonly message: string };

/** Performs one SDK call for the guest; the executor never interprets the JSON. */
export type CallSdk = (call: SdkCall) => Promise<SdkReply>;

/** One piece of agent code to run. */
export interface ExecutionRequest {
  /** TypeScript source: the body of an async function (already type-checked). */
  readonly code: string;
  /** Service property → method names exposed as `gateway.<service>.<method>(request)`. */
  readonly services: Readonly<Record<string, readonly string[]>>;
  /** Performs the SDK calls. */
  readonly callSdk: CallSdk;
  /** Per-request limits over the executor's. */
  readonly limits?: Partial<ExecutionLimits>;
  /** Abandons the execution (client gone): the isolate is disposed and SDK calls are aborted. */
  readonly signal?: AbortSignal;
}

/** Which hard limit ended an execution. "crash" means the sandbox process died or was killed. */
export type LimitKind =
  | "wall-time"
  | "memory"
  | "sdk-calls"
  | "concurrent-sdk-calls"
  | "output"
  | "crash";

/** An error thrown by the agent code, with its stack trimmed to the agent's own lines. */
export interface GuestError {
  readonly name: string;
  readonly message: string;
  /** `Name: message` then `at fn (agent.ts:LINE:COL)` frames, lines relative to the agent code. */
  readonly stack: string;
}

interface ExecutionReport {
  readonly logs: readonly LogLine[];
  readonly calls: readonly SdkCallTrace[];
  /** From the moment a sandbox process took the execution until the result. */
  readonly durationMs: number;
}

/** How one execution ended: the returned value, an error the agent code threw, or the limit that stopped it. */
export type ExecutionOutcome =
  | { readonly kind: "ok"; readonly returnJson: string }
  | { readonly kind: "error"; readonly error: GuestError }
  | { readonly kind: "limit"; readonly limit: LimitKind; readonly message: string };

/** The outcome of one execution with its logs, calls and duration, as a tagged value (never thrown). */
export type ExecutionResult = ExecutionOutcome & ExecutionReport;

/** Runs agent code, one fresh isolate per execution, in a pool of sandbox processes. */
export interface SandboxExecutor {
  /** Runs one piece of agent code. Resolves with a tagged result; rejects only after `close()`. */
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
  /** Ends running executions (as "crash"), stops every sandbox process and waits for them to exit. */
  close(): Promise<void>;
  /** Pool state, for metrics and health. */
  stats(): ExecutorStats;
}

/** A snapshot of the pool. */
export interface ExecutorStats {
  /** Sandbox processes alive (ready or starting). */
  readonly workers: number;
  /** Sandbox processes running at least one execution. */
  readonly busy: number;
  /** Sandbox processes replaced after a crash, hang or failed start. */
  readonly restarts: number;
  /** Executions running now. */
  readonly running: number;
  /** Executions waiting for a free slot. */
  readonly queued: number;
  /** Process ids of the sandbox processes, for operators and tests. */
  readonly pids: readonly number[];
}

/** Options of `createSandboxExecutor`. */
export interface SandboxExecutorOptions {
  /** Sandbox child processes (default 2). */
  readonly poolSize?: number;
  /**
   * Executions one sandbox process runs at once, each in its own isolate
   * (default 8). Agent runs mostly wait on SDK calls, so one per process would
   * waste the pool; a crash ends every execution in that process.
   */
  readonly maxExecutionsPerWorker?: number;
  /** Defaults for every request. */
  readonly limits?: Partial<ExecutionLimits>;
}

/** Merges limit layers and rejects values that make no sense. */
export function resolveLimits(...layers: readonly (Partial<ExecutionLimits> | undefined)[]): ExecutionLimits {
  const merged: Record<string, number> = { ...defaultExecutionLimits };
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined && Object.hasOwn(defaultExecutionLimits, key)) merged[key] = value;
    }
  }
  for (const [key, value] of Object.entries(merged)) {
    if (!Number.isFinite(value) || value < 1) throw new RangeError(`sandbox limit ${key} must be a positive number`);
    merged[key] = Math.floor(value);
  }
  const limits = merged as unknown as ExecutionLimits; // every key was copied from the defaults above
  if (limits.memoryMb < 8) throw new RangeError("sandbox limit memoryMb must be at least 8");
  return limits;
}
