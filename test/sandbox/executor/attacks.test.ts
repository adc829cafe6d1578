/**
 * Hostile agent code. Each attack must end in a clear tagged result, leak
 * nothing of the host, leave the pool healthy (a normal execution succeeds
 * right after) and leave no sandbox process burning CPU.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSandboxExecutor, type ExecutionResult, type SandboxExecutor } from "../../../sandbox/executor/index.js";
import { cpuBurn, createFakeSdk, isAlive, services } from "./harness.js";

let executor: SandboxExecutor;
let pidsAtStart: readonly number[];

beforeAll(async () => {
  executor = createSandboxExecutor({ poolSize: 2, limits: { wallTimeMs: 400, memoryMb: 32 } });
  await run("return 1;"); // wait until the pool is up
  pidsAtStart = executor.stats().pids;
});

afterEach(async () => {
  // the parent stays healthy: a normal execution succeeds right after every attack
  const after = await run("const { models } = await gateway.models.listModels({});\nreturn models.length;");
  expect(after).toMatchObject({ kind: "ok", returnJson: "2" });
  expect(executor.stats()).toMatchObject({ workers: 2, restarts: 0, running: 0, queued: 0 });
});

afterAll(async () => {
  await executor.close();
});

function run(code: string, limits?: Parameters<SandboxExecutor["execute"]>[0]["limits"]): Promise<ExecutionResult> {
  return executor.execute({ code, services, callSdk: createFakeSdk().callSdk, ...(limits === undefined ? {} : { limits }) });
}

async function value(code: string): Promise<unknown> {
  const result = await run(code);
  expect(result, JSON.stringify(result).slice(0, 1500)).toMatchObject({ kind: "ok" });
  return result.kind === "ok" ? JSON.parse(result.returnJson) : undefined;
}

async function expectError(code: string, name: string, message?: RegExp): Promise<void> {
  const result = await run(code);
  expect(result, JSON.stringify(result).slice(0, 1500)).toMatchObject({ kind: "error", error: { name } });
  if (message !== undefined && result.kind === "error") expect(result.error.message).toMatch(message);
}

describe("code generation and constructor-chain escapes", () => {
  const blocked = /not available in the sandbox/;
  it.each([
    ['globalThis.constructor.constructor("return process")()', "via globalThis"],
    ['({}).constructor.constructor("return this")()', "via an object literal"],
    ['[].map.constructor("return 1")()', "via a built-in method"],
    ['(async function () {}).constructor("return 1")', "via the async function constructor"],
    ['(async () => {}).constructor("return 1")', "via an async arrow"],
    ['Object.getPrototypeOf(function* () {}).constructor("yield 1")', "via the generator function constructor"],
    ['Object.getPrototypeOf(async function* () {}).constructor("yield 1")', "via the async generator constructor"],
    ['(class {}).constructor("return 1")', "via a class"],
    ['Function("return 1")()', "Function called"],
    ['new Function("return 1")()', "Function constructed"],
    ['Reflect.construct(Function, ["return 1"])', "Reflect.construct"],
    ['eval("1 + 1")', "direct eval"],
    ['(0, eval)("1 + 1")', "indirect eval"],
    ['globalThis["ev" + "al"]("1")', "computed eval"],
  ])("%s is blocked (%s)", async (expression) => {
    await expectError(`return ${expression};`, "EvalError", blocked);
  });

  it("keeps Function.prototype and instanceof working", async () => {
    expect(
      await value(
        "const f = () => 1;\nreturn [f instanceof Function, typeof Function.prototype.call, (async () => {}) instanceof Function, f.call(null)];",
      ),
    ).toEqual([true, "function", true, 1]);
  });

  it("cannot reassign the blocked globals or constructors", async () => {
    await expectError("(globalThis as any).Function = 1;", "TypeError");
    await expectError("Object.defineProperty(Function.prototype, 'constructor', { value: 1 });", "TypeError");
  });

  it("has no dynamic import", async () => {
    await expectError('const m = await import("data:text/javascript,export default 1");\nreturn m;', "Error", /Not supported/);
  });
});

describe("host objects and bridge handles are unreachable", () => {
  const standardGlobals = [
    "Object", "Function", "Array", "Number", "parseFloat", "parseInt", "Infinity", "NaN", "undefined", "Boolean",
    "String", "Symbol", "Date", "Promise", "RegExp", "Error", "AggregateError", "EvalError", "RangeError",
    "ReferenceError", "SyntaxError", "TypeError", "URIError", "globalThis", "JSON", "Math", "Intl", "ArrayBuffer",
    "Uint8Array", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array", "Float32Array",
    "Float64Array", "Uint8ClampedArray", "BigUint64Array", "BigInt64Array", "DataView", "Map", "BigInt", "Set",
    "WeakMap", "WeakSet", "Proxy", "Reflect", "FinalizationRegistry", "WeakRef", "decodeURI", "decodeURIComponent",
    "encodeURI", "encodeURIComponent", "escape", "unescape", "eval", "isFinite", "isNaN", "console",
  ];

  it("globalThis holds only ECMAScript built-ins plus gateway, SdkError and console", async () => {
    const names = (await value(
      [
        "const chain: string[] = [];",
        "for (let p = Object.getPrototypeOf(globalThis); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {",
        "  chain.push(Object.getOwnPropertyNames(p).join(',') + '|' + Object.getOwnPropertySymbols(p).length + '|' + (p.constructor === Object));",
        "}",
        "return [Object.getOwnPropertyNames(globalThis), Object.getOwnPropertySymbols(globalThis).length, Object.keys(globalThis), chain];",
      ].join("\n"),
    )) as [string[], number, string[], string[]];
    expect(new Set(names[0])).toEqual(new Set([...standardGlobals, "gateway", "SdkError"]));
    expect(names[1]).toBe(0);
    expect(names[2]).toEqual([]);
    expect(names[3]).toEqual(["constructor|0|true"]); // V8's global template prototype: only `constructor` (Object)
  });

  it("no isolated-vm, Node or bridge names resolve", async () => {
    const names = [
      "ivm", "_ivm", "isolatedVm", "Reference", "ExternalCopy", "Callback", "Isolate", "Context", "$0", "$1", "$2",
      "$3", "startCall", "emitLog", "report", "resolveCall", "run", "callHost", "pending", "config", "process",
      "require", "module", "exports", "global", "Buffer", "setTimeout", "setImmediate", "queueMicrotask", "fetch",
      "WebAssembly", "SharedArrayBuffer", "Atomics", "Worker", "ShadowRealm",
    ];
    const types = (await value(
      `return ${JSON.stringify(names)}.map((n) => { try { return n + ":" + typeof (globalThis as any)[n]; } catch (e) { return n + ":threw"; } });`,
    )) as string[];
    expect(types).toEqual(names.map((n) => `${n}:undefined`));
  });

  it("the SDK stubs are plain guest functions that expose nothing", async () => {
    expect(
      await value(
        [
          "const stub = gateway.models.listModels as any;",
          "return [Object.getOwnPropertyNames(stub).sort(), Object.getOwnPropertyNames(gateway.models).sort(),",
          "  Object.isFrozen(gateway), Object.isFrozen(gateway.models), Object.getPrototypeOf(stub) === Object.getPrototypeOf(async () => {}),",
          "  Object.getOwnPropertyNames(console).sort()];",
        ].join("\n"),
      ),
    ).toEqual([
      ["length", "name"],
      ["getModel", "listModels"],
      true,
      true,
      true,
      ["debug", "error", "info", "log", "warn"],
    ]);
  });

  it("structured stack frames give no prelude function or receiver", async () => {
    const seen = (await value(
      [
        "const found: string[] = [];",
        "(Error as any).prepareStackTrace = (_e: unknown, frames: any[]) => {",
        "  for (const f of frames) {",
        "    const file = String(f.getFileName());",
        "    if (file !== 'agent.js') found.push(file + ':' + typeof f.getFunction() + ':' + typeof f.getThis());",
        "  }",
        "  return 'x';",
        "};",
        "const probe = { toJSON() { void new Error().stack; return 1; }, get x() { void new Error().stack; return 2; } };",
        "console.log(probe);",
        "try { await gateway.models.getModel({ model: 'missing' }); } catch (e: any) { void e.stack; }",
        "const result = JSON.parse(JSON.stringify({ probe }));",
        "return { found: [...new Set(found)], result };",
      ].join("\n"),
    )) as { found: string[] };
    for (const entry of seen.found) expect(entry).toMatch(/:undefined:undefined$/);
  });
});

describe("tampering with built-ins before SDK calls", () => {
  it("overwritten JSON, Promise, Array.prototype and String.prototype do not break the bridge or leak", async () => {
    const sdk = createFakeSdk();
    const result = await executor.execute({
      code: [
        "const realParse = JSON.parse;",
        'JSON.parse = () => ({ forged: true });',
        'JSON.stringify = () => "{\\"forged\\":true}";',
        "(Array.prototype as any).push = function () { throw new Error('push tampered'); };",
        "(Array.prototype as any).map = function () { throw new Error('map tampered'); };",
        "(String.prototype as any).slice = function () { return 'e'; };",
        "(String.prototype as any).indexOf = function () { return 0; };",
        "(Object.prototype as any).get = function () { return 'accessor'; };",
        "(globalThis as any).Promise = function FakePromise() { throw new Error('fake promise'); };",
        "Object.defineProperty(Array.prototype, '0', { set() { throw new Error('index setter'); }, configurable: true });",
        'const models = await gateway.models.listModels({ pageSize: 5 });',
        'const missing = await gateway.models.getModel({ model: "missing" }).catch((e: any) => [e.name, e.code, e.message]);',
        "return { models, missing };",
      ].join("\n"),
      services,
      callSdk: sdk.callSdk,
    });
    expect(result, JSON.stringify(result)).toMatchObject({ kind: "ok" });
    if (result.kind !== "ok") return;
    expect(JSON.parse(result.returnJson)).toEqual({
      models: { models: [{ name: "llama3" }, { name: "qwen" }] },
      missing: ["SdkError", "not_found", 'model "missing" is not served'],
    });
    expect(sdk.calls.map((c) => c.requestJson)).toEqual(['{"pageSize":5}', '{"model":"missing"}']);
  });

  it("a thenable Object.prototype and a hijacked Promise.prototype.then fail cleanly", async () => {
    const thenable = await run(
      [
        "Object.defineProperty(Object.prototype, 'then', { get() { return (resolve: any) => resolve('hijacked'); }, configurable: true });",
        "const r = await gateway.models.listModels({});",
        "return r;",
      ].join("\n"),
    );
    expect(["ok", "error", "limit"]).toContain(thenable.kind);
    expect(JSON.stringify(thenable)).not.toMatch(/isolated-vm|\/work\/|node:/);
    const then = await run(
      [
        "const original = Promise.prototype.then;",
        "let intercepted = 0;",
        "Promise.prototype.then = function (this: Promise<unknown>, a: any, b: any) { intercepted++; return original.call(this, a, b); };",
        "(Promise.prototype as any).constructor = function Evil() {};",
        "const r = await gateway.models.listModels({});",
        "return { r, intercepted: intercepted > 0 };",
      ].join("\n"),
    );
    expect(then).toMatchObject({ kind: "ok" });
  });

  it("a poisoned toJSON or getter in the return value only affects the agent's own result", async () => {
    await expectError("return { get boom() { throw new TypeError('getter says no'); } };", "TypeError", /getter says no/);
    expect(await value("(Object.prototype as any).toJSON = function () { return 'replaced'; };\nreturn { a: 1 };")).toBe("replaced");
  });
});

describe("runaway code", () => {
  it("a synchronous infinite loop ends with wall-time", async () => {
    const result = await run("for (;;) {}");
    expect(result).toMatchObject({ kind: "limit", limit: "wall-time" });
    expect(result.durationMs).toBeLessThan(400 + 1500);
  });

  it("an infinite loop after an awaited SDK call ends with wall-time", async () => {
    const result = await run("await gateway.models.listModels({});\nwhile (true) {}");
    expect(result).toMatchObject({ kind: "limit", limit: "wall-time" });
    expect(result.calls).toHaveLength(1);
  });

  it("an await null flood ends with wall-time", async () => {
    const result = await run("for (;;) await null;");
    expect(result).toMatchObject({ kind: "limit", limit: "wall-time" });
  });

  it("a recursive Promise.then flood is stopped by a limit", async () => {
    const result = await run("const spin = (): Promise<void> => Promise.resolve().then(spin);\nspin();\nawait new Promise(() => {});");
    expect(result.kind).toBe("limit");
    expect(["wall-time", "memory"]).toContain(result.kind === "limit" ? result.limit : "");
  });

  it("a promise that never settles ends with wall-time", async () => {
    const result = await run("await new Promise(() => {});");
    expect(result).toMatchObject({ kind: "limit", limit: "wall-time" });
  });

  it("a memory bomb ends with memory", async () => {
    const result = await run("const hoard: number[][] = [];\nfor (;;) hoard.push(new Array(100_000).fill(Math.random()));", {
      wallTimeMs: 5000,
      memoryMb: 16,
    });
    expect(result).toMatchObject({ kind: "limit", limit: "memory" });
  });

  it("a memory bomb after an await ends with memory", async () => {
    const result = await run(
      'await gateway.models.listModels({});\nconst hoard: string[] = [];\nfor (;;) hoard.push("x".repeat(100_000) + Math.random());',
      { wallTimeMs: 5000, memoryMb: 16 },
    );
    expect(result).toMatchObject({ kind: "limit", limit: "memory" });
  });

  it("huge allocations fail inside the guest as errors", async () => {
    await expectError("return new ArrayBuffer(2 ** 31).byteLength;", "RangeError");
    await expectError('let s = "x";\nfor (;;) s += s;', "RangeError");
  });

  it("deep recursion is a RangeError with the agent's frames", async () => {
    const result = await run("function down(n: number): number {\n  return down(n + 1) + 1;\n}\nreturn down(0);");
    expect(result).toMatchObject({ kind: "error", error: { name: "RangeError", message: "Maximum call stack size exceeded" } });
    if (result.kind === "error") expect(result.error.stack).toContain("at down (agent.ts:2:");
  });

  it("leaves no sandbox process spinning after the runaways", async () => {
    const { pids } = executor.stats();
    expect(pids).toEqual(pidsAtStart);
    expect(pids.every(isAlive)).toBe(true);
    const burn = await cpuBurn(pids);
    for (const ticks of burn) expect(ticks).toBeLessThan(10); // < 100 ms of CPU in 400 ms
  });
});

describe("isolation between runs and missing capabilities", () => {
  it("Atomics, SharedArrayBuffer and WebAssembly are absent", async () => {
    expect(await value("return [typeof Atomics, typeof SharedArrayBuffer, typeof WebAssembly];")).toEqual([
      "undefined",
      "undefined",
      "undefined",
    ]);
    await expectError("return (globalThis as any).Atomics.wait(new Int32Array(4), 0, 0);", "TypeError");
    await expectError("return new (globalThis as any).SharedArrayBuffer(8);", "TypeError");
  });

  it("state set in one run is gone in the next", async () => {
    for (let i = 0; i < 4; i++) {
      expect(
        await value(
          [
            "const seen = [typeof (globalThis as any).leaked, typeof (Object.prototype as any).polluted, typeof (Array.prototype as any).extra];",
            "(globalThis as any).leaked = 42;",
            "(Object.prototype as any).polluted = 1;",
            "(Array.prototype as any).extra = 1;",
            "return seen;",
          ].join("\n"),
        ),
      ).toEqual(["undefined", "undefined", "undefined"]);
    }
  });
});
