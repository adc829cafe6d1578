/** Type-checks declarations (plus optional usage code) under strict TypeScript with only the ES2023 library. */
import ts from "typescript";

export function compileDiagnostics(declarations: string, usage = "export {};\n"): string[] {
  const files = new Map([
    ["/t/sdk.d.ts", declarations],
    ["/t/usage.ts", usage],
  ]);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    lib: ["lib.es2023.d.ts"],
    types: [],
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
  };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.getSourceFile = (name, version, ...rest) => {
    const text = files.get(name);
    return text !== undefined ? ts.createSourceFile(name, text, version) : original.getSourceFile(name, version, ...rest);
  };
  host.fileExists = (name) => files.has(name) || original.fileExists(name);
  host.readFile = (name) => files.get(name) ?? original.readFile(name);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ""}:${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
}
