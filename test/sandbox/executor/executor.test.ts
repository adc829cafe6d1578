import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandboxExecutor, type ExecutionResult, type SandboxExecutor } from "../../../sandbox/executor/index.js";
import { createFakeSdk, createHangingSdk, services } from "./harness.js";

let executor: SandboxExecutor;

beforeAll(() => {
  executor = createSandboxExecutor({ poolSize: 2, limits: { wallTimeMs: 2000 } });
});

afterAll(async () => {
  await executor.close();
});

function expectKind<K extends ExecutionResult["kind"]>(
  result: ExecutionResult,
  kind: K,
): asserts result is Extract<ExecutionResult, { kind: K }> {
  expect(result, JSON.stringify(result).slice(0, 2000)).toMatchObject({ kind });
}

describe("happy path", () => {
  it("runs SDK calls, captures logs and returns the value as JSON with a trace", async () => {
    const sdk = createFakeSdk();
    const result = await executor.execute({
      code: [
        "const { models } = await gateway.models.listModels({});",
        'console.log("models:", models.length, { first: models[0] }, [1, "two"], null, undefined);',
        'console.info("info"); console.warn("warn"); console.error("error"); console.debug("debug");',
        'const reply = await gateway.inference.chat({ model: "llama3", messages: [{ role: "ROLE_USER", content: "hi" }] });',
        "return { count: models.length, text: reply.text };",
      ].join("\n"),
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(result, "ok");
    expect(JSON.parse(result.returnJson)).toEqual({ count: 2, text: "echo: hi" });
    expect(result.logs).toEqual([
      { level: "log", text: 'models: 2 { first: { name: "llama3" } } [ 1, "two" ] null undefined' },
      { level: "info", text: "info" },
      { level: "warn", text: "warn" },
      { level: "error", text: "error" },
      { level: "debug", text: "debug" },
    ]);
    expect(result.calls.map(({ service, method, code }) => ({ service, method, code }))).toEqual([
      { service: "models", method: "listModels", code: "ok" },
      { service: "inference", method: "chat", code: "ok" },
    ]);
    expect(result.calls.every((c) => c.durationMs >= 0)).toBe(true);
    expect(result.durationMs).toBeGreaterThan(0);
    expect(sdk.calls).toHaveLength(2);
    expect(JSON.parse(sdk.calls[1]?.requestJson ?? "")).toEqual({
      model: "llama3",
      messages: [{ role: "ROLE_USER", content: "hi" }],
    });
    expect(sdk.calls[0]?.signal).toBeInstanceOf(AbortSignal);
  });

  it("returns null for undefined and keeps JSON semantics", async () => {
    const sdk = createFakeSdk();
    const nothing = await executor.execute({ code: "const x = 1;", services, callSdk: sdk.callSdk });
    expectKind(nothing, "ok");
    expect(nothing.returnJson).toBe("null");
    const value = await executor.execute({
      code: 'return { a: undefined, b: [undefined, 1.5], c: "ü", d: new Date(0) };',
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(value, "ok");
    expect(value.returnJson).toBe('{"b":[null,1.5],"c":"ü","d":"1970-01-01T00:00:00.000Z"}');
  });

  it("turns SDK errors into SdkError with code and message", async () => {
    const sdk = createFakeSdk();
    const result = await executor.execute({
      code: [
        "try {",
        '  await gateway.models.getModel({ model: "missing" });',
        '  return "unreachable";',
        "} catch (e) {",
        "  if (e instanceof SdkError) return { name: e.name, code: e.code, message: e.message, isError: e instanceof Error };",
        "  throw e;",
        "}",
      ].join("\n"),
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(result, "ok");
    expect(JSON.parse(result.returnJson)).toEqual({
      name: "SdkError",
      code: "not_found",
      message: 'model "missing" is not served',
      isError: true,
    });
    expect(result.calls).toMatchObject([{ service: "models", method: "getModel", code: "not_found" }]);
  });

  it("reports an uncaught SdkError with the stack of the agent's own lines", async () => {
    const result = await executor.execute({
      code: ["// look up a model", "", 'const model = await gateway.models.getModel({ model: "missing" });', "return model;"].join("\n"),
      services,
      callSdk: createFakeSdk().callSdk,
    });
    expectKind(result, "error");
    expect(result.error.name).toBe("SdkError");
    expect(result.error.message).toBe('model "missing" is not served');
    expect(result.error.stack).toBe('SdkError: model "missing" is not served\n    at async main (agent.ts:3:15)');
  });

  it("never shows the guest what callSdk threw, only a generic internal error", async () => {
    const sdk = createFakeSdk(() => Promise.reject(new Error("secret token abc123 at /srv/gateway/server.ts")));
    const result = await executor.execute({
      code: "try { await gateway.models.listModels({}); } catch (e) { return [e.code, e.message]; }",
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(result, "ok");
    expect(JSON.parse(result.returnJson)).toEqual(["internal", "the SDK call failed"]);
    expect(JSON.stringify(result)).not.toContain("secret");
  });

  it("maps stack lines back to the TypeScript the agent wrote (types removed)", async () => {
    const code = [
      "interface Point {",
      "  x: number;",
      "  y: number;",
      "}",
      "type Pair = [number, number];",
      "function check(p: Point): Pair {",
      '  if (p.x < 0) throw new RangeError("negative x: " + p.x);',
      "  return [p.x, p.y];",
      "}",
      "const points: Point[] = [{ x: 1, y: 2 }, { x: -1, y: 0 }];",
      "return points.map((p) => check(p));",
    ].join("\n");
    const result = await executor.execute({ code, services, callSdk: createFakeSdk().callSdk });
    expectKind(result, "error");
    expect(result.error).toEqual({
      name: "RangeError",
      message: "negative x: -1",
      stack: "RangeError: negative x: -1\n    at check (agent.ts:7:22)\n    at agent.ts:11:26\n    at main (agent.ts:11:15)",
    });
    expect(result.error.stack).not.toMatch(/prelude|isolated-vm|node_modules|\/work\//);
  });

  it("reports thrown non-errors and syntax errors as errors", async () => {
    const thrown = await executor.execute({ code: 'throw "plain string";', services, callSdk: createFakeSdk().callSdk });
    expectKind(thrown, "error");
    expect(thrown.error).toMatchObject({ name: "Error", message: "plain string" });
    const syntax = await executor.execute({ code: "const a = 1;\nreturn a +;", services, callSdk: createFakeSdk().callSdk });
    expectKind(syntax, "error");
    expect(syntax.error).toMatchObject({ name: "SyntaxError", message: "Expression expected." });
    expect(syntax.error.stack).toContain("agent.ts:2:");
    const redeclared = await executor.execute({ code: "const x = 1;\nlet a = 1;\nlet a = 2;\nreturn a + x;", services, callSdk: createFakeSdk().callSdk });
    expectKind(redeclared, "error"); // TypeScript's transpiler lets it through; V8 refuses it
    expect(redeclared.error).toEqual({
      name: "SyntaxError",
      message: "Identifier 'a' has already been declared",
      stack: "SyntaxError: Identifier 'a' has already been declared\n    at agent.ts:3:5",
    });
    const escape = await executor.execute({ code: "return 1; }); (async function () {", services, callSdk: createFakeSdk().callSdk });
    expectKind(escape, "error");
    expect(escape.error.name).toBe("SyntaxError");
  });

  it("serialises the return value inside the isolate: BigInt and cycles are errors", async () => {
    const bigint = await executor.execute({ code: "return { n: 10n };", services, callSdk: createFakeSdk().callSdk });
    expectKind(bigint, "error");
    expect(bigint.error.name).toBe("TypeError");
    const cycle = await executor.execute({ code: "const a: any = {}; a.self = a; return a;", services, callSdk: createFakeSdk().callSdk });
    expectKind(cycle, "error");
    expect(cycle.error.message).toMatch(/circular/i);
  });
});

describe("limits", () => {
  it("cuts a huge return value off with limit output", async () => {
    const result = await executor.execute({
      code: 'return Array.from({ length: 100_000 }, (_, i) => ({ index: i, text: "xxxxxxxxxx" }));',
      services,
      callSdk: createFakeSdk().callSdk,
    });
    expectKind(result, "limit");
    expect(result.limit).toBe("output");
    expect(result.message).toContain("262144");
  });

  it("checks the exact UTF-8 size of the output on the host", async () => {
    const result = await executor.execute({
      code: 'return "€".repeat(1000);', // 1000 characters, 3000 bytes
      services,
      callSdk: createFakeSdk().callSdk,
      limits: { maxOutputBytes: 2000 },
    });
    expectKind(result, "limit");
    expect(result.limit).toBe("output");
  });

  it("caps a log flood by lines and by bytes and says so", async () => {
    const byLines = await executor.execute({
      code: 'for (let i = 0; i < 100_000; i++) console.log("line", i);\nreturn "done";',
      services,
      callSdk: createFakeSdk().callSdk,
      limits: { maxLogLines: 20 },
    });
    expectKind(byLines, "ok");
    expect(byLines.logs).toHaveLength(21);
    expect(byLines.logs[19]).toEqual({ level: "log", text: "line 19" });
    expect(byLines.logs[20]?.text).toMatch(/dropped/);
    const byBytes = await executor.execute({
      code: 'for (let i = 0; i < 1000; i++) console.log("y".repeat(1000));\nconsole.log("€".repeat(5000));\nreturn 1;',
      services,
      callSdk: createFakeSdk().callSdk,
      limits: { maxLogBytes: 4500 },
    });
    expectKind(byBytes, "ok");
    const kept = byBytes.logs.slice(0, -1);
    expect(kept.reduce((n, l) => n + Buffer.byteLength(l.text), 0)).toBe(4500);
    expect(byBytes.logs.at(-1)?.text).toMatch(/dropped/);
  });

  it("stops an SDK call flood at maxSdkCalls", async () => {
    const sdk = createFakeSdk();
    const result = await executor.execute({
      code: "for (let i = 0; i < 1000; i++) await gateway.models.listModels({});\nreturn 1;",
      services,
      callSdk: sdk.callSdk,
      limits: { maxSdkCalls: 10 },
    });
    expectKind(result, "limit");
    expect(result.limit).toBe("sdk-calls");
    expect(sdk.calls).toHaveLength(10);
    expect(result.calls).toHaveLength(10);
  });

  it("stops too many concurrent SDK calls and aborts the ones in flight", async () => {
    const sdk = createHangingSdk();
    const result = await executor.execute({
      code: "await Promise.all([1, 2, 3, 4, 5, 6].map(() => gateway.models.listModels({})));\nreturn 1;",
      services,
      callSdk: sdk.callSdk,
      limits: { maxConcurrentSdkCalls: 3 },
    });
    expectKind(result, "limit");
    expect(result.limit).toBe("concurrent-sdk-calls");
    expect(sdk.calls).toHaveLength(3);
    expect(sdk.calls.every((c) => c.signal.aborted)).toBe(true);
    expect(result.calls.map((c) => c.code)).toEqual(["canceled", "canceled", "canceled"]);
  });

  it("aborts SDK calls still in flight when the code returns without awaiting them", async () => {
    const sdk = createHangingSdk();
    const result = await executor.execute({
      code: 'void gateway.inference.chat({ messages: [] });\nreturn "left it running";',
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(result, "ok");
    expect(sdk.calls).toHaveLength(1);
    expect(sdk.calls[0]?.signal.aborted).toBe(true);
  });

  it("has only the listed methods: computed names and casts find nothing and reach no host", async () => {
    const sdk = createFakeSdk();
    const result = await executor.execute({
      code: [
        "const found: string[] = [];",
        'for (const name of ["deleteModel", "constructor", "__proto__", "toString", "listModels"]) {',
        "  found.push(name + ':' + typeof (gateway.models as any)[name]);",
        "}",
        "found.push('admin:' + typeof (gateway as any).admin);",
        "found.push(Object.keys(gateway).join(',') + '|' + Object.keys(gateway.models).join(','));",
        "try { await (gateway.models as any)['delete' + 'Model']({}); } catch (e) { found.push(String(e)); }",
        "return found;",
      ].join("\n"),
      services,
      callSdk: sdk.callSdk,
    });
    expectKind(result, "ok");
    expect(JSON.parse(result.returnJson)).toEqual([
      "deleteModel:undefined",
      "constructor:function", // Object.prototype.constructor, as on any plain object
      "__proto__:object",
      "toString:function",
      "listModels:function",
      "admin:undefined",
      "inference,models|listModels,getModel",
      "TypeError: gateway.models[(\"delete\" + \"Model\")] is not a function",
    ]);
    expect(sdk.calls).toHaveLength(0);
  });
});
