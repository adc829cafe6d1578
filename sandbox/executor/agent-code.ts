/**
 * Agent code on its way in and its errors on their way out: the TypeScript
 * function body becomes one JavaScript function expression (with a source
 * map), and guest stacks are cut to the agent's own frames with line and
 * column numbers of the code the agent wrote.
 */
import ts from "typescript";
import { agentScriptFilename } from "./protocol.js";
import { createPositionMapper, type PositionMapper } from "./source-map.js";
import type { GuestError } from "./types.js";

/** The file name stacks show for agent code. */
const agentSourceFilename = "agent.ts";

const header = "(async function main() {\n";
const footer = "\n});\n";

/** What stack mapping needs to know about one piece of agent code. */
export interface AgentCodeMap {
  readonly mapper: PositionMapper;
  /** Lines of the agent's source, to keep mapped positions inside it. */
  readonly lineCount: number;
}

/** Agent code ready for the sandbox, or why it cannot run. */
export type PreparedAgentCode =
  | (AgentCodeMap & { readonly kind: "ok"; readonly js: string })
  | { readonly kind: "error"; readonly error: GuestError };

/**
 * Transpiles the body of an async function (TypeScript, already type-checked)
 * into `"use strict"; (async function main() { … });` and a position mapper.
 * Syntax errors, and code that closes the function early, are reported as a
 * SyntaxError with the agent's line and column.
 *
 * @example
 * const prepared = prepareAgentCode("const n: number = 1;\nreturn n;");
 * if (prepared.kind === "ok") prepared.js; // '"use strict";\n(async function main() {…'
 */
export function prepareAgentCode(code: string): PreparedAgentCode {
  const wrapped = header + code + footer;
  const output = ts.transpileModule(wrapped, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.None,
      sourceMap: true,
      alwaysStrict: true,
      removeComments: true,
    },
    fileName: agentSourceFilename,
    reportDiagnostics: true,
  });
  const lineCount = code.split("\n").length;
  const syntaxError = output.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (syntaxError !== undefined) {
    const { line, character } =
      syntaxError.file !== undefined && syntaxError.start !== undefined
        ? syntaxError.file.getLineAndCharacterOfPosition(syntaxError.start)
        : { line: 1, character: 0 };
    const message = ts.flattenDiagnosticMessageText(syntaxError.messageText, "\n");
    return syntaxErrorResult(message, clampLine(line, lineCount), character + 1);
  }
  const escape = findEscapeFromWrapper(wrapped);
  if (escape !== undefined) {
    return syntaxErrorResult(
      "unexpected code after the end of the function body (is there an extra `}`?)",
      clampLine(escape, lineCount),
      1,
    );
  }
  if (output.sourceMapText === undefined) throw new Error("typescript produced no source map");
  const map = JSON.parse(output.sourceMapText) as { mappings?: unknown };
  const mapper = createPositionMapper(typeof map.mappings === "string" ? map.mappings : "");
  const js = output.outputText.replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
  return { kind: "ok", js, mapper, lineCount };
}

/** The 0-based line of the first statement that is not our wrapper, if any. */
function findEscapeFromWrapper(wrapped: string): number | undefined {
  const file = ts.createSourceFile(agentSourceFilename, wrapped, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const [first, second] = file.statements;
  const wrapperIntact =
    first !== undefined &&
    ts.isExpressionStatement(first) &&
    ts.isParenthesizedExpression(first.expression) &&
    ts.isFunctionExpression(first.expression.expression) &&
    first.end === wrapped.length - 1;
  if (wrapperIntact && second === undefined) return undefined;
  const culprit = second ?? first;
  return culprit === undefined ? 0 : file.getLineAndCharacterOfPosition(culprit.getStart(file)).line;
}

function clampLine(wrappedLine: number, lineCount: number): number {
  return Math.min(Math.max(wrappedLine, 1), lineCount);
}

function syntaxErrorResult(message: string, line: number, column: number): PreparedAgentCode {
  const stack = `SyntaxError: ${message}\n    at ${agentSourceFilename}:${line}:${column}`;
  return { kind: "error", error: { name: "SyntaxError", message, stack } };
}

const frameLocation = new RegExp(`^at (?:(.*) \\()?${agentScriptFilename.replace(".", "\\.")}:(\\d+):(\\d+)\\)?$`);

/** Rewrites `agent.js:L:C` positions into the agent's own lines; undefined for positions outside them. */
function mapLocation(mapper: PositionMapper, lineCount: number, line: number, column: number): string | undefined {
  const original = mapper.originalPosition(line - 1, column - 1);
  if (original === undefined) return undefined;
  // wrapped line 0 is the header, so wrapped line N is agent line N
  return `${agentSourceFilename}:${clampLine(original.line, lineCount)}:${original.column + 1}`;
}

/**
 * Builds the stack the caller sees: `Name: message`, then only the frames
 * that are in agent code, each mapped to the agent's line and column.
 * Frames of the prelude, built-ins and everything outside the isolate are
 * dropped; the guest's stack text is untrusted and treated as such.
 */
export function cleanGuestStack(
  error: { readonly name: string; readonly message: string; readonly stack: string },
  code: AgentCodeMap,
): string {
  const frames: string[] = [];
  for (const rawLine of error.stack.slice(0, 16384).split("\n")) {
    const match = frameLocation.exec(rawLine.trim());
    if (match === null) continue;
    const [, fn, line, column] = match;
    const location = mapLocation(code.mapper, code.lineCount, Number(line), Number(column));
    if (location === undefined) continue;
    const named = fn !== undefined && fn.length > 0;
    frames.push(named ? `    at ${fn.slice(0, 200)} (${location})` : `    at ${location}`);
    if (frames.length >= 50) break;
  }
  return [`${error.name}: ${error.message}`, ...frames].join("\n");
}

/** Maps `agent.js:L:C` positions inside console text (printed errors) to the agent's lines. */
export function mapLogPositions(text: string, code: AgentCodeMap): string {
  if (!text.includes(agentScriptFilename)) return text;
  return text.replace(/agent\.js:(\d+):(\d+)/g, (whole, line: string, column: string) => {
    return mapLocation(code.mapper, code.lineCount, Number(line), Number(column)) ?? whole;
  });
}
