/**
 * The type-checking engine that runs inside the checker's worker: one
 * long-lived TypeScript LanguageService over three files (the SDK
 * declarations, a `console` declaration, the wrapped user code). Each check
 * replaces only the user file, so the library and SDK are parsed and bound
 * once and every later program reuses them.
 */
import { dirname } from "node:path";
import ts from "typescript";
import type { DocsIndex } from "../docs/index.js";
import type { SandboxDiagnostic } from "./check-result.js";
import { capText, createDiagnosticExplainer, helpLimits } from "./diagnostic-help.js";
import { findForbiddenConstructs } from "./forbidden-constructs.js";
import { toUserPosition, wrapperPrefix, wrapUserCode } from "./wrap-user-code.js";

const root = "/sandbox/";
const sdkFile = `${root}sdk.d.ts`;
const consoleFile = `${root}console.d.ts`;
const mainFile = `${root}main.ts`;

/** The only host API sandbox code gets besides the SDK and the ES library. */
const consoleDeclarations = `/** Writes to the log returned with the result; arguments are shown as JSON. */
declare const console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
};
`;

/**
 * Strict, ES2023 library only (no DOM, no Node types), nothing emitted.
 * Exported for bench/sandbox.ts, whose fresh-program baseline must check
 * with exactly these options.
 */
export const compilerOptions: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  // The user file is a module, so its wrapper function is not a global; the .d.ts files stay global scripts.
  moduleDetection: ts.ModuleDetectionKind.Force,
  lib: ["lib.es2023.d.ts"],
  types: [],
  typeRoots: [],
  noEmit: true,
  noFallthroughCasesInSwitch: true,
  allowUnreachableCode: true,
  allowUnusedLabels: true,
};

/** Options of {@link createCheckEngine}. */
export interface CheckEngineOptions {
  readonly declarations: string;
  readonly docs: DocsIndex;
  /** Longest accepted code, in characters. */
  readonly maxCodeLength: number;
}

/** Checks code synchronously; lives in the worker. */
export interface CheckEngine {
  /** The diagnostics of one piece of code; empty when it checks. */
  check(code: string): SandboxDiagnostic[];
}

/** A problem found in the wrapped file, with its help still to be written. */
interface Finding {
  readonly start: number;
  readonly code: number | string;
  readonly message: string;
  readonly help: () => string;
}

const fallbackHelp = "Compare the types involved with the SDK declarations; the SDK's types can be used by name.";
const budgetNote = "More help is left out; fix the errors above first.";

/**
 * Writes each finding's help within the limits: at most 1,500 characters
 * each and 6,000 in all (room is kept for a short note on every later
 * finding), and a help identical to an earlier one is referenced instead.
 * Help is best-effort: if writing it fails, a generic hint stands in.
 */
function withHelp(found: readonly Finding[], code: string): SandboxDiagnostic[] {
  let budget: number = helpLimits.total;
  const seen = new Map<string, number>();
  return found.map((f, i) => {
    const position = toUserPosition(code, f.start);
    let help: string;
    try {
      help = capText(f.help(), helpLimits.perDiagnostic);
    } catch {
      help = "";
    }
    if (help === "") help = fallbackHelp;
    const earlier = seen.get(help);
    const available = budget - (found.length - i - 1) * budgetNote.length;
    if (earlier !== undefined) {
      help = `Same help as for line ${earlier}.`;
    } else {
      seen.set(help, position.line);
      if (help.length > available) help = available > 200 ? capText(help, available) : budgetNote;
    }
    budget -= help.length;
    return { line: position.line, column: position.column, code: f.code, message: f.message, help };
  });
}

/** Problems the engine reports itself, before TypeScript's. */
function codeTooLong(max: number): SandboxDiagnostic {
  return {
    line: 1,
    column: 1,
    code: "code_too_long",
    message: `The code is longer than ${max} characters.`,
    help: "Send a shorter program: loop over data instead of writing it out.",
  };
}

/**
 * Creates the engine and verifies that the declarations type-check on their
 * own; throws when they do not (a build problem, not the model's).
 */
export function createCheckEngine(options: CheckEngineOptions): CheckEngine {
  const libDir = dirname(ts.getDefaultLibFilePath(compilerOptions));
  const files = new Map<string, { text: string; version: number }>([
    [sdkFile, { text: options.declarations, version: 1 }],
    [consoleFile, { text: consoleDeclarations, version: 1 }],
    [mainFile, { text: wrapUserCode(""), version: 1 }],
  ]);
  const libSnapshots = new Map<string, ts.IScriptSnapshot | undefined>();
  const isLib = (path: string) => path.startsWith(`${libDir}/`) && !path.slice(libDir.length + 1).includes("/");
  const host: ts.LanguageServiceHost = {
    getCompilationSettings: () => compilerOptions,
    getScriptFileNames: () => [sdkFile, consoleFile, mainFile],
    getScriptVersion: (path) => String(files.get(path)?.version ?? 0),
    getScriptSnapshot: (path) => {
      const file = files.get(path);
      if (file !== undefined) return ts.ScriptSnapshot.fromString(file.text);
      if (!isLib(path)) return undefined;
      if (!libSnapshots.has(path)) {
        const text = ts.sys.readFile(path);
        libSnapshots.set(path, text === undefined ? undefined : ts.ScriptSnapshot.fromString(text));
      }
      return libSnapshots.get(path);
    },
    getCurrentDirectory: () => root,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (path) => files.has(path) || (isLib(path) && ts.sys.fileExists(path)),
    readFile: (path) => files.get(path)?.text ?? (isLib(path) ? ts.sys.readFile(path) : undefined),
    directoryExists: (dir) => dir === root.slice(0, -1) || dir === libDir,
    getDirectories: () => [],
  };
  const service = ts.createLanguageService(host, ts.createDocumentRegistry());

  const declarationErrors = [...service.getSyntacticDiagnostics(sdkFile), ...service.getSemanticDiagnostics(sdkFile)];
  if (declarationErrors.length > 0) {
    const first = declarationErrors[0];
    throw new Error(
      `sandbox declarations do not type-check (${declarationErrors.length} errors; first: ${ts.flattenDiagnosticMessageText(first?.messageText, " ")})`,
    );
  }

  return {
    check(code) {
      if (code.length > options.maxCodeLength) return [codeTooLong(options.maxCodeLength)];
      const current = files.get(mainFile);
      files.set(mainFile, { text: wrapUserCode(code), version: (current?.version ?? 0) + 1 });

      const syntactic = service.getSyntacticDiagnostics(mainFile);
      const program = service.getProgram();
      const sourceFile = program?.getSourceFile(mainFile);
      if (program === undefined || sourceFile === undefined) throw new Error("sandbox checker lost its program");
      const checker = program.getTypeChecker();
      const found: Finding[] = [];
      const forbiddenSpans: { start: number; end: number }[] = [];

      // The code must stay inside the wrapper: no `}` may close it early.
      const [wrapper, ...extra] = sourceFile.statements;
      const body = wrapper !== undefined && ts.isFunctionDeclaration(wrapper) ? wrapper.body : undefined;
      if (body !== undefined && extra.length > 0 && syntactic.length === 0) {
        found.push({
          start: body.getEnd() - 1,
          code: "unbalanced_body",
          message: "This `}` closes the function your code runs in; code after it is outside.",
          help: () => "Your code is the body of an async function: keep its braces balanced and end with `return value`.",
        });
      }
      const codeEnd = wrapperPrefix.length + code.length;
      for (const use of findForbiddenConstructs(sourceFile, body ?? sourceFile)) {
        found.push({ start: use.start, code: use.code, message: use.message, help: () => use.help });
        forbiddenSpans.push({ start: use.start, end: use.end });
      }
      // TypeScript's view of a forbidden construct ("Cannot find module", "Cannot find name 'require'") adds nothing.
      const insideForbidden = (d: ts.Diagnostic) =>
        forbiddenSpans.some(
          (s) => d.start === s.start || ((d.start ?? -1) >= s.start && (d.start ?? 0) + (d.length ?? 0) <= s.end),
        );
      // The wrapper declares Promise<unknown>, so a body without `return` would be an error (2355) on the wrapper.
      const onWrapper = (d: ts.Diagnostic) => (d.start ?? 0) < wrapperPrefix.length && (d.code === 2355 || d.code === 7030);
      const diagnostics = syntactic.length > 0 ? syntactic : service.getSemanticDiagnostics(mainFile);
      const explain = createDiagnosticExplainer({ checker, sourceFile, sdkFileName: sdkFile, docs: options.docs });
      // A block the code leaves open swallows the wrapper's `}`; TypeScript then
      // complains at the end of the file. Say what is really wrong, once.
      if (syntactic.some((d) => (d.start ?? 0) > codeEnd)) {
        found.push({
          start: codeEnd,
          code: 1005,
          message: "'}' expected: a block opened in your code is not closed.",
          help: () => "Close every `{` you open; your code is the body of an async function and ends with `return value`.",
        });
      }
      for (const d of diagnostics) {
        const start = d.start ?? 0;
        if (insideForbidden(d) || onWrapper(d) || start > codeEnd) continue;
        found.push({
          start,
          code: d.code,
          message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
          help: () => explain(d),
        });
      }
      found.sort((a, b) => a.start - b.start);
      return withHelp(found, code);
    },
  };
}
