/**
 * The gateway's code sandbox: one long-lived type-checker and one executor
 * pool, the host bridge that performs SDK calls, and the audit log. Every
 * entry point (SandboxService, /mcp) goes through it.
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { type CheckResult, createTypeScriptChecker, type SandboxDiagnostic, type TypeScriptChecker } from "../../sandbox/checker/index.js";
import type { SandboxSurface } from "../../sandbox/codegen/index.js";
import { type DocsEntry, searchDocs } from "../../sandbox/docs/index.js";
import {
  createSandboxExecutor,
  type ExecutionLimits,
  type ExecutionResult,
  type ExecutorStats,
  type SandboxExecutor,
  type SdkCallTrace,
} from "../../sandbox/executor/index.js";
import type { SandboxSettings } from "../config/sandbox-settings.js";
import type { Logger } from "../log/logger.js";
import { createHostBridge } from "./host-bridge.js";
import type { SandboxSdk } from "./sandbox-sdk.js";

/** Limits a request may lower (never raise). */
export type RunLimits = Partial<Pick<ExecutionLimits, "wallTimeMs" | "maxSdkCalls" | "memoryMb" | "maxOutputBytes">>;

/** One piece of code to check and run. */
export interface SandboxRunRequest {
  readonly code: string;
  /** Who asked, for the audit log (see callerName). */
  readonly caller: string;
  /** The entry point, for the audit log. */
  readonly via: "rpc" | "mcp";
  readonly limits?: RunLimits;
  /** The client went away: stop the run. */
  readonly signal?: AbortSignal;
}

/** How a run ended: diagnostics (nothing ran) or the executor's result, with the check's duration. */
export type SandboxRun =
  | { readonly kind: "diagnostics"; readonly diagnostics: readonly SandboxDiagnostic[]; readonly checkMs: number }
  | (ExecutionResult & { readonly checkMs: number });

/** The audit record of one run, as logged. */
export interface SandboxAuditRecord {
  readonly caller: string;
  readonly via: "rpc" | "mcp";
  /** sha256 of the code, hex. */
  readonly codeSha256: string;
  readonly codeBytes: number;
  /** `ok`, `diagnostics`, `error`, or the limit that stopped the run (`wall-time`, `memory`, …). */
  readonly outcome: string;
  readonly calls: readonly SdkCallTrace[];
  readonly checkMs: number;
  readonly runMs: number;
  /** From the request until the result. */
  readonly durationMs: number;
}

/** The sandbox a gateway owns. */
export interface GatewaySandbox {
  /** The SDK code is checked against. */
  readonly surface: SandboxSurface;
  /** Type-checks code. Throws ConnectError only when the sandbox itself fails or is closed. */
  check(code: string): Promise<CheckResult>;
  /** Checks, then runs when the check passes; logs one audit line. */
  execute(request: SandboxRunRequest): Promise<SandboxRun>;
  /** Docs entries for a query, best first; an empty query gives every service and method. */
  searchDocs(query: string, limit?: number): readonly DocsEntry[];
  /** Starts the checker and the pool now instead of on first use. */
  start(): void;
  /** Stops the checker and every sandbox process; later calls fail with unavailable. */
  close(): Promise<void>;
  /** The pool, once started (process ids included, for operators and tests). */
  stats(): ExecutorStats | undefined;
}

/** Options of {@link createGatewaySandbox}. */
export interface GatewaySandboxOptions {
  readonly sdk: SandboxSdk;
  readonly settings: Pick<SandboxSettings, "poolSize" | "checkerWorkers" | "limits" | "maxPendingRuns" | "maxPendingChecks">;
  /** The gateway's log; each run writes one `sandbox run` line. */
  readonly log: Logger;
  /** Called with each run's audit record (for metrics). */
  readonly onRun?: (record: SandboxAuditRecord) => void;
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

function outcomeOf(run: SandboxRun): string {
  return run.kind === "limit" ? run.limit : run.kind;
}

/**
 * Creates the sandbox. Nothing starts until the first check or run (or
 * `start()`): the checker worker loads TypeScript, the pool forks its
 * sandbox processes.
 *
 * @example
 * const sandbox = createGatewaySandbox({ sdk, settings, log });
 * const run = await sandbox.execute({ code: "return 1 + 1;", caller: "test", via: "rpc" });
 * await sandbox.close();
 */
export function createGatewaySandbox(options: GatewaySandboxOptions): GatewaySandbox {
  const { sdk, settings, log } = options;
  const callSdk = createHostBridge({ routes: sdk.routes });
  let checker: TypeScriptChecker | undefined;
  let executor: SandboxExecutor | undefined;
  let closed = false;
  let pending = 0;
  let pendingChecks = 0;

  const closedError = () => new ConnectError("the sandbox is shut down", Code.Unavailable);

  const started = (): { checker: TypeScriptChecker; executor: SandboxExecutor } => {
    if (closed) throw closedError();
    checker ??= createTypeScriptChecker({
      declarations: sdk.surface.declarations,
      docs: sdk.surface.docs,
      workers: settings.checkerWorkers,
    });
    executor ??= createSandboxExecutor({
      poolSize: settings.poolSize,
      limits: { ...settings.limits },
    });
    return { checker, executor };
  };

  const runCheck = async (code: string): Promise<CheckResult> => {
    const parts = started();
    try {
      return await parts.checker.check(code);
    } catch (error) {
      if (closed) throw closedError();
      throw new ConnectError("the sandbox type-checker failed", Code.Internal, undefined, undefined, error);
    }
  };

  /** Request limits can only lower the configured ones. */
  const limitsFor = (requested: RunLimits | undefined): RunLimits => {
    const lowered: Record<string, number> = {};
    for (const key of ["wallTimeMs", "maxSdkCalls", "memoryMb", "maxOutputBytes"] as const) {
      const value = requested?.[key];
      if (value !== undefined) lowered[key] = Math.min(value, settings.limits[key]);
    }
    return lowered;
  };

  const audit = (request: SandboxRunRequest, run: SandboxRun, startedAt: number): void => {
    const record: SandboxAuditRecord = {
      caller: request.caller,
      via: request.via,
      codeSha256: createHash("sha256").update(request.code).digest("hex"),
      codeBytes: Buffer.byteLength(request.code, "utf8"),
      outcome: outcomeOf(run),
      calls: run.kind === "diagnostics" ? [] : run.calls,
      checkMs: run.checkMs,
      runMs: run.kind === "diagnostics" ? 0 : run.durationMs,
      durationMs: elapsed(startedAt),
    };
    log.info("sandbox run", {
      caller: record.caller,
      via: record.via,
      code_sha256: record.codeSha256,
      code_bytes: record.codeBytes,
      outcome: record.outcome,
      sdk_calls: record.calls.map((call) => ({ service: call.service, method: call.method, code: call.code, duration_ms: call.durationMs })),
      check_ms: record.checkMs,
      run_ms: record.runMs,
      duration_ms: record.durationMs,
    });
    options.onRun?.(record);
  };

  return {
    surface: sdk.surface,
    async check(code) {
      if (closed) throw closedError();
      // Each waiting check holds its code (up to 100 000 characters) in memory; a flood waits here no longer.
      if (pendingChecks >= settings.maxPendingChecks) {
        throw new ConnectError(`the sandbox is busy (${pendingChecks} checks in progress); try again shortly`, Code.ResourceExhausted);
      }
      pendingChecks += 1;
      try {
        return await runCheck(code);
      } finally {
        pendingChecks -= 1;
      }
    },
    async execute(request) {
      if (closed) throw closedError();
      if (pending >= settings.maxPendingRuns) {
        throw new ConnectError(`the sandbox is busy (${pending} runs in progress); try again shortly`, Code.ResourceExhausted);
      }
      pending += 1;
      const startedAt = performance.now();
      try {
        const checked = await runCheck(request.code);
        let run: SandboxRun;
        if (checked.kind === "diagnostics") {
          run = { kind: "diagnostics", diagnostics: checked.diagnostics, checkMs: checked.durationMs };
        } else {
          const result = await started().executor.execute({
            code: request.code,
            services: sdk.exposed,
            callSdk,
            limits: limitsFor(request.limits),
            ...(request.signal === undefined ? {} : { signal: request.signal }),
          });
          run = { ...result, checkMs: checked.durationMs };
        }
        audit(request, run, startedAt);
        return run;
      } catch (error) {
        if (closed) throw closedError();
        throw error;
      } finally {
        pending -= 1;
      }
    },
    searchDocs(query, limit) {
      if (query.trim() === "") {
        return sdk.surface.docs.entries.filter((e) => e.kind === "service" || e.kind === "method").slice(0, limit ?? 100);
      }
      return searchDocs(sdk.surface.docs, query, limit ?? 10);
    },
    start() {
      started();
    },
    async close() {
      closed = true;
      await Promise.all([checker?.close(), executor?.close()]);
    },
    stats() {
      return executor?.stats();
    },
  };
}
