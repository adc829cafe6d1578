// Node module hooks that run protogate's TypeScript sources directly, for
// bin/protogate.js (and so `npm start`): `import "./x.js"` from a `.ts`
// file finds `./x.ts`, and a `.ts` file outside node_modules is compiled
// by esbuild on load, with the types stripped and nothing else changed.
//
// Why not tsx, which the tests, scripts and benchmarks use: tsx compiles
// with esbuild's `keepNames`, which names every function expression,
// arrow and nested declaration with a call to `Object.defineProperty` each
// time it is evaluated. That costs about 260 ns per function against 2
// without it (bench/function-name-cost.ts), and the gateway made eight
// such functions per request (docs/benchmarks.md, "Functions made per
// request"); without them protogate served 4–5 % more requests per
// second at concurrency 32 (docs/benchmarks.md, "Functions named at run
// time"). Nothing in protogate reads a function's `name`, and esbuild
// compiles one file at a time here, so it never renames a function:
// `keepNames` has nothing to keep.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

/** The project's compiler options, as tsx would pass them (esbuild reads `verbatimModuleSyntax` and the class-field settings). */
const compilerOptions = JSON.parse(readFileSync(new URL("../tsconfig.json", import.meta.url), "utf8")).compilerOptions;

/** Whether `url` is a TypeScript source of ours (not a package's). */
function isOwnTypeScript(url) {
  return url.startsWith("file:") && url.endsWith(".ts") && !url.includes("/node_modules/");
}

/** Resolves `./x.js` imported by one of our `.ts` files to `./x.ts` when only that exists (TypeScript's NodeNext convention). */
export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent !== undefined && isOwnTypeScript(parent) && /^\.{1,2}\/.*\.js$/.test(specifier)) {
    const source = new URL(`${specifier.slice(0, -3)}.ts`, parent);
    if (!existsSync(new URL(specifier, parent)) && existsSync(source)) {
      return { url: source.href, format: "module", shortCircuit: true };
    }
  }
  return nextResolve(specifier, context);
}

/** Compiles our `.ts` files to JavaScript modules, with an inline source map for stack traces. */
export async function load(url, context, nextLoad) {
  if (!isOwnTypeScript(url)) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(readFileSync(path, "utf8"), {
    loader: "ts",
    format: "esm",
    target: `node${process.versions.node}`,
    sourcemap: "inline",
    sourcefile: path,
    tsconfigRaw: { compilerOptions },
  });
  return { format: "module", source: code, shortCircuit: true };
}
