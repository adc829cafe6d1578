/**
 * How a sandbox process is started. The child's code is TypeScript next to
 * this file; rather than paying for a TypeScript loader in every child
 * (measured here: about 400 ms to ready and 75 MB RSS with `--import tsx`),
 * the parent transpiles the child's few modules once into a private
 * temporary folder and forks plain JavaScript (about 50 ms and 45 MB).
 *
 * The child runs under Node's permission model: it may read only its own
 * folder and isolated-vm's, and may not write files, spawn processes or start
 * workers. That does not stop native-code exploits, but JavaScript that
 * escaped into the child's main context gets no filesystem or processes.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** A runnable child program. */
export interface ChildProgram {
  /** The module to fork. */
  readonly entry: string;
  /** Arguments after the entry. */
  readonly args: readonly string[];
  /** Node options for the child. */
  readonly execArgv: readonly string[];
  /** Removes the temporary folder, if one was made. */
  dispose(): void;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Relative module specifiers a TypeScript file imports, as `.ts` paths. */
function localImports(file: string, source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((name) => name.startsWith("./") || name.startsWith("../"))
    .map((name) => resolve(dirname(file), name.replace(/\.js$/, ".ts")));
}

function permissionFlags(readable: readonly string[]): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has("--permission") ? "--permission" : "--experimental-permission";
  return [flag, "--allow-addons", ...readable.map((dir) => `--allow-fs-read=${join(dir, "*")}`)];
}

/**
 * Prepares the child program: forks `child/main.js` directly when this
 * folder was compiled to JavaScript, otherwise transpiles `child/main.ts` and
 * every module it reaches into a fresh 0700 temporary folder.
 */
export function prepareChildProgram(): ChildProgram {
  const ivmEntry = createRequire(import.meta.url).resolve("isolated-vm");
  const ivmDir = dirname(ivmEntry);
  const baseArgv = ["--no-warnings", "--disallow-code-generation-from-strings"];
  const compiled = join(here, "child", "main.js");
  if (existsSync(compiled)) {
    return {
      entry: compiled,
      args: [ivmEntry],
      execArgv: [...baseArgv, ...permissionFlags([here, ivmDir])],
      dispose() {},
    };
  }
  const outDir = mkdtempSync(join(tmpdir(), "protogate-sandbox-"));
  try {
    const pending = [join(here, "child", "main.ts")];
    const done = new Set<string>();
    while (pending.length > 0) {
      const file = pending.pop();
      if (file === undefined || done.has(file)) continue;
      done.add(file);
      const rel = relative(here, file);
      if (rel.startsWith("..")) throw new Error(`sandbox child imports outside its folder: ${rel}`);
      const source = readFileSync(file, "utf8");
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          verbatimModuleSyntax: true,
        },
        fileName: file,
      });
      const target = join(outDir, rel.replace(/\.ts$/, ".js"));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, outputText, { mode: 0o600 });
      pending.push(...localImports(file, source));
    }
    writeFileSync(join(outDir, "package.json"), '{ "type": "module" }\n', { mode: 0o600 });
  } catch (error) {
    rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
  const remove = () => rmSync(outDir, { recursive: true, force: true });
  process.once("exit", remove); // also when the owner exits without close()
  return {
    entry: join(outDir, "child", "main.js"),
    args: [ivmEntry],
    execArgv: [...baseArgv, ...permissionFlags([outDir, ivmDir])],
    dispose() {
      process.removeListener("exit", remove);
      remove();
    },
  };
}
