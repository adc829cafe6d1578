/**
 * Runs type-checked agent TypeScript in a fresh isolated-vm isolate per
 * execution, inside a pool of child processes, with hard limits on wall time,
 * memory, SDK calls, output and logs. SDK calls cross the boundary as JSON
 * text and are performed by the caller's `callSdk`; the executor knows
 * nothing about Connect or HTTP.
 */
export { createSandboxExecutor } from "./executor.js";
export type {
  CallSdk,
  ExecutionLimits,
  ExecutionRequest,
  ExecutionResult,
  ExecutorStats,
  GuestError,
  LimitKind,
  LogLevel,
  LogLine,
  SandboxExecutor,
  SandboxExecutorOptions,
  SdkCall,
  SdkCallTrace,
  SdkReply,
} from "./types.js";
export { defaultExecutionLimits } from "./types.js";
