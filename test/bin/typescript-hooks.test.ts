import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../helpers/run-process.js";

/** The hooks' signatures, as Node calls them (the module is plain JavaScript). */
interface Hooks {
  resolve(specifier: string, context: { parentURL?: string }, next: (specifier: string, context: object) => Promise<unknown>): Promise<unknown>;
  load(url: string, context: object, next: (url: string, context: object) => Promise<unknown>): Promise<{ format?: string; source?: unknown }>;
}

const hooksUrl = new URL("../../bin/typescript-hooks.js", import.meta.url);

/** A module with named arrows, a nested declaration, a type and an error thrown on line 7. */
const fixtureSource = `interface Point { readonly x: number }
export function make(point: Point) {
  const end = (value: number): number => value + point.x;
  function inner(): string { return "inner"; }
  return { end, inner };
}
export function fail(): never { throw new Error("thrown from the fixture"); }
`;

describe("bin/typescript-hooks.js", () => {
  let dir: string;
  let hooks: Hooks;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "protogate-hooks-"));
    writeFileSync(join(dir, "fixture.ts"), fixtureSource);
    writeFileSync(join(dir, "only-ts.ts"), "export const only = 1;\n");
    writeFileSync(join(dir, "both.ts"), "export const both = 'ts';\n");
    writeFileSync(join(dir, "both.js"), "export const both = 'js';\n");
    hooks = (await import(hooksUrl.href)) as Hooks;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refuse = (what: string) => () => Promise.reject(new Error(`${what}: the next hook was called`));

  it("compiles our TypeScript without esbuild's keepNames: no function is named at run time", async () => {
    const loaded = await hooks.load(pathToFileURL(join(dir, "fixture.ts")).href, {}, refuse("load"));
    expect(loaded.format).toBe("module");
    const source = String(loaded.source);
    expect(source).not.toContain("__name");
    expect(source).not.toContain("interface Point");
    expect(source).toContain("const end = (value) => value + point.x;");
    expect(source).toMatch(/\/\/# sourceMappingURL=data:application\/json;base64,/);
  });

  it("leaves JavaScript and packages' TypeScript to the next hook", async () => {
    const seen: string[] = [];
    const next = async (url: string) => {
      seen.push(url);
      return { format: "module", source: "" };
    };
    await hooks.load(pathToFileURL(join(dir, "both.js")).href, {}, next);
    await hooks.load("file:///somewhere/node_modules/pkg/index.ts", {}, next);
    expect(seen).toEqual([pathToFileURL(join(dir, "both.js")).href, "file:///somewhere/node_modules/pkg/index.ts"]);
  });

  it("resolves ./x.js from a .ts file to ./x.ts only when there is no ./x.js", async () => {
    const parentURL = pathToFileURL(join(dir, "fixture.ts")).href;
    const next = async (specifier: string) => ({ url: `next:${specifier}` });
    expect(await hooks.resolve("./only-ts.js", { parentURL }, next)).toEqual({
      url: pathToFileURL(join(dir, "only-ts.ts")).href,
      format: "module",
      shortCircuit: true,
    });
    expect(await hooks.resolve("./both.js", { parentURL }, next)).toEqual({ url: "next:./both.js" });
    expect(await hooks.resolve("pino", { parentURL }, next)).toEqual({ url: "next:pino" });
    expect(await hooks.resolve("./only-ts.js", { parentURL: pathToFileURL(join(dir, "both.js")).href }, next)).toEqual({
      url: "next:./only-ts.js",
    });
  });

  it("runs a module in Node as bin/protogate.js does: names intact, none defined at run time, stack traces in .ts lines", async () => {
    const script = `
      import { register } from "node:module";
      register(${JSON.stringify(hooksUrl.href)});
      process.setSourceMapsEnabled(true);
      let named = 0;
      const defineProperty = Object.defineProperty;
      Object.defineProperty = (target, key, attributes) => {
        if (key === "name" && typeof target === "function") named++;
        return defineProperty(target, key, attributes);
      };
      const fixture = await import(${JSON.stringify(pathToFileURL(join(dir, "fixture.ts")).href)});
      const made = fixture.make({ x: 2 });
      let stack = "";
      try { fixture.fail(); } catch (error) { stack = error.stack; }
      console.log(JSON.stringify({ sum: made.end(1), names: [made.end.name, made.inner.name], named, stack }));`;
    const run = await runProcess(process.execPath, ["--input-type=module", "-e", script], { timeoutMs: 20_000 });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { sum: number; names: string[]; named: number; stack: string };
    expect(result.sum).toBe(3);
    expect(result.names).toEqual(["end", "inner"]);
    expect(result.named).toBe(0);
    expect(result.stack).toContain(`${join(dir, "fixture.ts")}:7:`);
  });
});
