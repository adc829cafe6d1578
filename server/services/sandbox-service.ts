import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ExecuteResponseSchema,
  type SandboxDiagnosticSchema,
  SandboxDocsKind,
  SandboxLimitKind,
  SandboxLogLevel,
  SandboxOutcome,
  SandboxService,
  type SandboxLimits,
} from "../../gen/protogate/v1/sandbox_service_pb.js";
import type { SandboxDiagnostic } from "../../sandbox/checker/index.js";
import type { DocsEntryKind } from "../../sandbox/docs/index.js";
import type { LimitKind, LogLevel } from "../../sandbox/executor/index.js";
import { callerHeader, callerName, type GatewaySandbox, peerAddressKey, type RunLimits, type SandboxRun } from "../sandbox/index.js";

const logLevels: Record<LogLevel, SandboxLogLevel> = {
  log: SandboxLogLevel.LOG,
  info: SandboxLogLevel.INFO,
  warn: SandboxLogLevel.WARN,
  error: SandboxLogLevel.ERROR,
  debug: SandboxLogLevel.DEBUG,
};

const limitKinds: Record<LimitKind, SandboxLimitKind> = {
  "wall-time": SandboxLimitKind.WALL_TIME,
  memory: SandboxLimitKind.MEMORY,
  "sdk-calls": SandboxLimitKind.SDK_CALLS,
  "concurrent-sdk-calls": SandboxLimitKind.CONCURRENT_SDK_CALLS,
  output: SandboxLimitKind.OUTPUT,
  crash: SandboxLimitKind.CRASH,
};

const docsKinds: Record<DocsEntryKind, SandboxDocsKind> = {
  service: SandboxDocsKind.SERVICE,
  method: SandboxDocsKind.METHOD,
  message: SandboxDocsKind.MESSAGE,
  field: SandboxDocsKind.FIELD,
  enum: SandboxDocsKind.ENUM,
};

function toDiagnostic(diagnostic: SandboxDiagnostic): MessageInitShape<typeof SandboxDiagnosticSchema> {
  return { ...diagnostic, code: String(diagnostic.code) };
}

function toLimits(limits: SandboxLimits | undefined): RunLimits | undefined {
  if (limits === undefined) return undefined;
  return {
    ...(limits.wallTimeMs === undefined ? {} : { wallTimeMs: limits.wallTimeMs }),
    ...(limits.maxSdkCalls === undefined ? {} : { maxSdkCalls: limits.maxSdkCalls }),
    ...(limits.memoryMb === undefined ? {} : { memoryMb: limits.memoryMb }),
    ...(limits.maxOutputBytes === undefined ? {} : { maxOutputBytes: limits.maxOutputBytes }),
  };
}

/** The contract's ExecuteResponse for a sandbox run. */
function toExecuteResponse(run: SandboxRun): MessageInitShape<typeof ExecuteResponseSchema> {
  if (run.kind === "diagnostics") {
    return { outcome: SandboxOutcome.DIAGNOSTICS, diagnostics: run.diagnostics.map(toDiagnostic), checkDurationMs: run.checkMs };
  }
  const common = {
    logs: run.logs.map((line) => ({ level: logLevels[line.level], text: line.text })),
    calls: run.calls.map((call) => ({ ...call })),
    checkDurationMs: run.checkMs,
    runDurationMs: run.durationMs,
  };
  switch (run.kind) {
    case "ok":
      return { ...common, outcome: SandboxOutcome.OK, returnJson: run.returnJson };
    case "error":
      return { ...common, outcome: SandboxOutcome.ERROR, error: { ...run.error } };
    case "limit":
      return { ...common, outcome: SandboxOutcome.LIMIT, limit: { kind: limitKinds[run.limit], message: run.message } };
  }
}

/**
 * Implements protogate.v1.SandboxService over the gateway's sandbox:
 * Check and Execute map the sandbox's tagged results to the contract
 * (a failed check is a result, not an error), SearchDocs returns docs
 * entries. The caller in the audit log is the `protogate-caller` header,
 * else the peer address. When the sandbox is turned off every method
 * answers unimplemented.
 *
 * @example
 * router.service(SandboxService, createSandboxService({ sandbox }));
 */
export function createSandboxService(options: { readonly sandbox: GatewaySandbox | undefined }): ServiceImpl<typeof SandboxService> {
  const sandboxOf = (): GatewaySandbox => {
    if (options.sandbox === undefined) throw new ConnectError("the code sandbox is turned off in this gateway's config", Code.Unimplemented);
    return options.sandbox;
  };
  const callerOf = (context: HandlerContext) => callerName(context.requestHeader.get(callerHeader), context.values.get(peerAddressKey));
  return {
    async check(request) {
      const result = await sandboxOf().check(request.code);
      return result.kind === "ok"
        ? { ok: true, durationMs: result.durationMs }
        : { ok: false, diagnostics: result.diagnostics.map(toDiagnostic), durationMs: result.durationMs };
    },
    async execute(request, context) {
      const limits = toLimits(request.limits);
      const run = await sandboxOf().execute({
        code: request.code,
        caller: callerOf(context),
        via: "rpc",
        signal: context.signal,
        ...(limits === undefined ? {} : { limits }),
      });
      return toExecuteResponse(run);
    },
    searchDocs(request) {
      const entries = sandboxOf().searchDocs(request.query, request.limit === 0 ? undefined : request.limit);
      return { entries: entries.map((entry) => ({ ...entry, kind: docsKinds[entry.kind] })) };
    },
  };
}
