import ts from "typescript";
import { describe, expect, it } from "vitest";
import { compilerOptions, consoleDeclarations, createCheckEngine } from "../../../sandbox/checker/check-engine.js";
import { toUserPosition, wrapperPrefix, wrapUserCode } from "../../../sandbox/checker/wrap-user-code.js";
import { declarations, docs } from "./sdk-fixture.js";

/**
 * The engine serves the ES library as one concatenated file; sandbox code
 * must see exactly what a plain program with `compilerOptions` (the lib
 * files from node_modules/typescript) sees.
 */
function plainProgramDiagnostics(code: string): { line: number; column: number; code: number; message: string }[] {
  const files = new Map([
    ["/sandbox/sdk.d.ts", declarations],
    ["/sandbox/console.d.ts", consoleDeclarations],
    ["/sandbox/main.ts", wrapUserCode(code)],
  ]);
  const host = ts.createCompilerHost(compilerOptions);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const text = files.get(fileName);
    return text === undefined ? getSourceFile(fileName, languageVersion, ...rest) : ts.createSourceFile(fileName, text, languageVersion, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  const program = ts.createProgram([...files.keys()], compilerOptions, host);
  const main = program.getSourceFile("/sandbox/main.ts");
  if (main === undefined) throw new Error("no main file");
  const end = wrapperPrefix.length + code.length;
  return [...program.getSyntacticDiagnostics(main), ...program.getSemanticDiagnostics(main)]
    .filter((d) => (d.start ?? 0) >= wrapperPrefix.length && (d.start ?? 0) <= end)
    .map((d) => ({
      ...toUserPosition(code, d.start ?? 0),
      code: d.code,
      message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    }));
}

/** ES2015–ES2023 features that must check, later or host APIs that must not, and type errors inside lib types. */
const snippets = [
  "return [3, 1, 2].toSorted().findLast((x) => x > 1)?.toFixed(1);",
  "const m = new Map([[1, 'a']]); return [...m.values()].at(-1)?.padStart(3).replaceAll(' ', '_');",
  "return Object.hasOwn({ a: 1 }, 'a') && Object.fromEntries([['b', 2]]).b === 2;",
  "return Promise.allSettled([Promise.resolve(1)]).then((r) => r.map((x) => x.status));",
  "const e = new Error('x', { cause: 1 }); return [e.cause, new WeakRef({}).deref(), 2n ** 3n];",
  "return /(?<y>\\d+)/d.exec('2024')?.indices?.groups?.y;",
  "return new Intl.ListFormat('en').format(['a']) + Symbol.asyncIterator.toString();",
  "for await (const x of [Promise.resolve(1)]) console.log(x.toFixed()); return 1;",
  "return Object.groupBy([1, 2], (x) => x);",
  "return structuredClone({ a: 1 });",
  "setTimeout(() => 1, 10); return fetch('x');",
  "return document.title + process.env.HOME;",
  "return [1, 2].flatMapp((x) => [x]);",
  "return 'abc'.replaceAll(1, 'x');",
  "const a = [1, 2]; a.push('x'); return a.includes('y');",
  "const p: Promise<number> = Promise.resolve('x'); return p;",
  "const r: ReadonlyArray<number> = [1]; r.push(2); return new Map<string>();",
  "return [1, 2].reduce((a, b) => a + b, '').toFixed();",
  "return new ArrayBuffer(8, { maxByteLength: 16 }).resize(4);",
];

describe("the check engine's ES library", () => {
  const engine = createCheckEngine({ declarations, docs, maxCodeLength: 100_000 });

  it("gives the same diagnostics as a plain program with the ES2023 lib files", () => {
    let withErrors = 0;
    for (const code of snippets) {
      const expected = plainProgramDiagnostics(code);
      const actual = engine.check(code).map(({ line, column, code: c, message }) => ({ line, column, code: c, message }));
      expect(actual, code).toEqual(expected);
      if (expected.length > 0) withErrors++;
    }
    // Both kinds are covered: code that checks and code that does not.
    expect(withErrors).toBeGreaterThan(8);
    expect(withErrors).toBeLessThan(snippets.length);
  });
});
