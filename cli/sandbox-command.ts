import { readFileSync } from "node:fs";
import {
  type ExecuteResponse,
  type ProtogateClient,
  type SandboxDiagnostic,
  SandboxDocsKind,
  SandboxLimitKind,
  SandboxLogLevel,
  SandboxOutcome,
} from "../sdk/index.js";
import { forTerminal } from "./terminal-text.js";

/** Where `protogate sandbox` writes: results to `out` (stdout), everything else to `err` (stderr). */
export interface SandboxOutput {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const usage = "usage: protogate sandbox check FILE.ts | run FILE.ts | docs [QUERY]   (FILE - reads stdin)";

const levelNames: Record<SandboxLogLevel, string> = {
  [SandboxLogLevel.UNSPECIFIED]: "log",
  [SandboxLogLevel.LOG]: "log",
  [SandboxLogLevel.INFO]: "info",
  [SandboxLogLevel.WARN]: "warn",
  [SandboxLogLevel.ERROR]: "error",
  [SandboxLogLevel.DEBUG]: "debug",
};

const docsKindNames: Record<SandboxDocsKind, string> = {
  [SandboxDocsKind.UNSPECIFIED]: "symbol",
  [SandboxDocsKind.SERVICE]: "service",
  [SandboxDocsKind.METHOD]: "method",
  [SandboxDocsKind.MESSAGE]: "message",
  [SandboxDocsKind.FIELD]: "field",
  [SandboxDocsKind.ENUM]: "enum",
};

const limitNames: Record<SandboxLimitKind, string> = {
  [SandboxLimitKind.UNSPECIFIED]: "unknown",
  [SandboxLimitKind.WALL_TIME]: "wall-time",
  [SandboxLimitKind.MEMORY]: "memory",
  [SandboxLimitKind.SDK_CALLS]: "sdk-calls",
  [SandboxLimitKind.CONCURRENT_SDK_CALLS]: "concurrent-sdk-calls",
  [SandboxLimitKind.OUTPUT]: "output",
  [SandboxLimitKind.CRASH]: "crash",
};

function readCode(file: string): string {
  return readFileSync(file === "-" ? 0 : file, "utf8");
}

/** `FILE:LINE:COL error CODE: message`, then the help indented. */
function printDiagnostics(file: string, diagnostics: readonly SandboxDiagnostic[], print: (line: string) => void): void {
  for (const d of diagnostics) {
    const code = /^\d+$/.test(d.code) ? `TS${d.code}` : d.code;
    print(`${file}:${d.line}:${d.column} error ${code}: ${d.message}`);
    for (const line of d.help.split("\n")) if (line !== "") print(`  ${line}`);
  }
  const count = diagnostics.length;
  print(`${count} problem${count === 1 ? "" : "s"}; nothing ran.`);
}

function printTrace(response: ExecuteResponse, print: (line: string) => void): void {
  // Console output may repeat what a model wrote (see forTerminal).
  for (const line of response.logs) print(forTerminal(`[${levelNames[line.level]}] ${line.text}`));
  for (const call of response.calls) print(`[call] gateway.${call.service}.${call.method} → ${call.code} (${call.durationMs} ms)`);
}

/**
 * `protogate sandbox check|run|docs`: type-checks or runs a TypeScript file
 * (the body of an async function using `gateway.*`) on the gateway through
 * the SDK, or searches the sandbox SDK's docs. `run` prints the returned
 * value as JSON on stdout, and console output, the SDK call trace and any
 * problem on stderr. Resolves to the exit code: 0 when the code checked (or
 * ran and returned), 1 for diagnostics, a thrown error or a limit.
 */
export async function sandboxCommand(client: ProtogateClient, args: readonly string[], output: SandboxOutput): Promise<number> {
  const [action, target, ...extra] = args;
  if (action === "docs") {
    const { entries } = await client.sandbox.searchDocs({ query: [target, ...extra].filter((w) => w !== undefined).join(" ") });
    if (entries.length === 0) output.err("no docs match; try a service or method name, or no query for an overview");
    for (const [index, entry] of entries.entries()) {
      if (index > 0) output.out("");
      output.out(`${entry.path} (${docsKindNames[entry.kind]})`);
      output.out(`  ${entry.signature}`);
      output.out(`  ${entry.doc.replaceAll("\n", "\n  ")}`);
    }
    return entries.length === 0 ? 1 : 0;
  }
  if ((action !== "check" && action !== "run") || target === undefined || extra.length > 0) throw new Error(usage);
  const code = readCode(target);
  if (action === "check") {
    const result = await client.sandbox.check({ code });
    if (result.ok) {
      output.out(`${target}: ok (${result.durationMs} ms)`);
      return 0;
    }
    printDiagnostics(target, result.diagnostics, output.err);
    return 1;
  }
  const response = await client.sandbox.execute({ code });
  switch (response.outcome) {
    case SandboxOutcome.OK:
      printTrace(response, output.err);
      output.out(JSON.stringify(JSON.parse(response.returnJson), null, 2));
      return 0;
    case SandboxOutcome.DIAGNOSTICS:
      printDiagnostics(target, response.diagnostics, output.err);
      return 1;
    case SandboxOutcome.ERROR:
      printTrace(response, output.err);
      output.err(forTerminal(response.error?.stack || `${response.error?.name ?? "Error"}: ${response.error?.message ?? ""}`));
      return 1;
    default:
      printTrace(response, output.err);
      output.err(`stopped by the ${limitNames[response.limit?.kind ?? SandboxLimitKind.UNSPECIFIED]} limit: ${response.limit?.message ?? ""}`);
      return 1;
  }
}
