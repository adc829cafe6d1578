/**
 * The type-checking engine that runs inside the checker's worker: one
 * long-lived TypeScript LanguageService over four files (the ES library,
 * the SDK declarations, a `console` declaration, the wrapped user code).
 * Each check replaces only the user file, so the library and SDK are parsed
 * and bound once and every later program reuses them.
 *
 * Every check still builds a new program and a new type checker, and their
 * cost grows with the number of files: per file, the program looks up its
 * module format (walking up from `node_modules/typescript/lib` for the lib
 * files) and the checker merges its globals into those of the others. So
 * the ES library's files (61 for ES2023) are served as one file outside
 * `node_modules`, concatenated in the order TypeScript itself loads them:
 * the same declarations in the same order, merged by the binder once
 * instead of by every checker (see `esLibrary`). A check costs about 30%
 * less (docs/benchmarks.md, "Sandbox").
 */
import { dirname, join } from "node:path";
import ts from "typescript";
import type { DocsIndex } from "../docs/index.js";
import type { SandboxDiagnostic } from "./check-result.js";
import { capText, createDiagnosticExplainer, helpLimits } from "./diagnostic-help.js";
import { findForbiddenConstructs } from "./forbidden-constructs.js";
import { toUserPosition, wrapperPrefix, wrapUserCode } from "./wrap-user-code.js";

const root = "/sandbox/";
const libFile = `${root}lib.d.ts`;
const sdkFile = `${root}sdk.d.ts`;
const consoleFile = `${root}console.d.ts`;
const mainFile = `${root}main.ts`;

/**
 * The only host API sandbox code gets besides the SDK and the ES library.
 * Exported for the test that compares the engine with a plain program.
 */
export const consoleDeclarations = `/** Writes to the log returned with the result; arguments are shown as JSON. */
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
 * with exactly these options. The engine itself checks with
 * {@link engineOptions}: the same, with the library as one file.
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

/** {@link compilerOptions} with the library given as a root file (`libFile`) instead of by `lib`. */
const { lib: _lib, ...withoutLib } = compilerOptions;
const engineOptions: ts.CompilerOptions = { ...withoutLib, noLib: true };

const libReference = /^\/\/\/\s*<reference\s+lib=.*$/gm;

/**
 * The library `compilerOptions.lib` selects, as one script: its files'
 * texts in the order a program lists them (TypeScript follows each file's
 * `/// <reference lib>` directives, then sorts the files by its own list of
 * libraries), with those directives removed. A first program over stubs
 * that hold only the directives finds the files and their order. The text
 * starts with `/// <reference no-default-lib="true"/>`, so TypeScript treats
 * it as a default library, as it treats the files themselves.
 */
function esLibrary(): string {
  const libDir = dirname(ts.getDefaultLibFilePath(compilerOptions));
  const texts = new Map<string, string>();
  const read = (path: string): string | undefined => {
    if (dirname(path) !== libDir) return undefined;
    if (!texts.has(path)) {
      const text = ts.sys.readFile(path);
      if (text !== undefined) texts.set(path, text);
    }
    return texts.get(path);
  };
  const stub = (text: string) =>
    text
      .split("\n")
      .filter((line) => line.startsWith("///"))
      .join("\n");
  const probe = join(libDir, "__probe__.ts");
  const host: ts.CompilerHost = {
    getSourceFile: (path, languageVersion) => {
      const text = path === probe ? "" : read(path);
      return text === undefined ? undefined : ts.createSourceFile(path, stub(text), languageVersion);
    },
    getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
    writeFile: () => undefined,
    getCurrentDirectory: () => libDir,
    getCanonicalFileName: (path) => path,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (path) => path === probe || read(path) !== undefined,
    readFile: read,
  };
  const files = ts
    .createProgram({ rootNames: [probe], options: compilerOptions, host })
    .getSourceFiles()
    .filter((file) => file.fileName !== probe);
  const parts = files.map((file) => {
    const text = texts.get(file.fileName);
    if (text === undefined) throw new Error(`sandbox checker: cannot read ${file.fileName}`);
    return text.replace(libReference, "");
  });
  return `/// <reference no-default-lib="true"/>\n${parts.join("\n")}`;
}

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
  /** Each file's text, version and snapshot; only the user file ever changes. */
  interface ScriptFile {
    readonly text: string;
    readonly version: string;
    readonly snapshot: ts.IScriptSnapshot;
  }
  const scriptFile = (text: string, version: number): ScriptFile => ({
    text,
    version: String(version),
    snapshot: ts.ScriptSnapshot.fromString(text),
  });
  const fileNames = [libFile, sdkFile, consoleFile, mainFile];
  const files = new Map<string, ScriptFile>([
    [libFile, scriptFile(esLibrary(), 1)],
    [sdkFile, scriptFile(options.declarations, 1)],
    [consoleFile, scriptFile(consoleDeclarations, 1)],
    [mainFile, scriptFile(wrapUserCode(""), 1)],
  ]);
  let mainVersion = 1;
  const host: ts.LanguageServiceHost = {
    getCompilationSettings: () => engineOptions,
    getScriptFileNames: () => fileNames,
    getScriptVersion: (path) => files.get(path)?.version ?? "0",
    getScriptSnapshot: (path) => files.get(path)?.snapshot,
    getCurrentDirectory: () => root,
    getDefaultLibFileName: () => libFile,
    fileExists: (path) => files.has(path),
    readFile: (path) => files.get(path)?.text,
    directoryExists: (dir) => dir === root.slice(0, -1),
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
      mainVersion += 1;
      files.set(mainFile, scriptFile(wrapUserCode(code), mainVersion));

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
