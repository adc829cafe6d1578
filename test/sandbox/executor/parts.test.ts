/**
 * The executor's pure parts, without processes: the host-side SDK gate, log
 * limits, IPC message parsing, TypeScript preparation and stack mapping.
 */
import { describe, expect, it } from "vitest";
import { cleanGuestStack, mapLogPositions, prepareAgentCode } from "../../../sandbox/executor/agent-code.js";
import { createLogCollector, truncateUtf8 } from "../../../sandbox/executor/log-collector.js";
import { parseChildMessage, parseParentMessage } from "../../../sandbox/executor/protocol.js";
import { createSdkGate } from "../../../sandbox/executor/sdk-gate.js";
import { createPositionMapper, decodeVlqSegment } from "../../../sandbox/executor/source-map.js";
import { defaultExecutionLimits, resolveLimits } from "../../../sandbox/executor/types.js";

describe("SDK gate (the host-side allowlist and counters)", () => {
  const services = { models: ["listModels"], inference: ["chat"] };

  it("rejects methods and services that are not listed, inherited names included", () => {
    const gate = createSdkGate({ services, maxSdkCalls: 100, maxConcurrentSdkCalls: 100 });
    for (const [service, method] of [
      ["models", "deleteModel"],
      ["models", "constructor"],
      ["models", "__proto__"],
      ["models", "toString"],
      ["models", "hasOwnProperty"],
      ["admin", "listModels"],
      ["__proto__", "listModels"],
      ["constructor", "name"],
      ["inference", "listModels"],
    ] as const) {
      expect(gate.admit(service, method)).toEqual({
        kind: "reject",
        code: "not_found",
        message: `gateway.${service}.${method} does not exist`,
      });
    }
    expect(gate.admit("models", "listModels")).toEqual({ kind: "allow" });
  });

  it("counts every attempt and limits calls in flight", () => {
    const gate = createSdkGate({ services, maxSdkCalls: 4, maxConcurrentSdkCalls: 2 });
    expect(gate.admit("models", "listModels").kind).toBe("allow");
    expect(gate.admit("models", "nope").kind).toBe("reject");
    expect(gate.admit("inference", "chat").kind).toBe("allow");
    expect(gate.admit("models", "listModels")).toMatchObject({ kind: "limit", limit: "concurrent-sdk-calls" });
    gate.settle();
    expect(gate.admit("models", "listModels")).toMatchObject({ kind: "limit", limit: "sdk-calls" });
  });

  it("without an allowlist only counts (the child's copy)", () => {
    const gate = createSdkGate({ maxSdkCalls: 1, maxConcurrentSdkCalls: 1 });
    expect(gate.admit("anything", "at-all").kind).toBe("allow");
  });
});

describe("log collector", () => {
  it("keeps lines up to the limit and then marks the drop", () => {
    const logs = createLogCollector({ maxLogLines: 2, maxLogBytes: 1000 });
    expect(logs.add("log", "a")).toEqual({ level: "log", text: "a" });
    expect(logs.add("warn", "b")).toEqual({ level: "warn", text: "b" });
    expect(logs.add("log", "c")).toBeUndefined();
    expect(logs.truncated).toBe(true);
    expect(logs.lines().map((l) => l.text)).toEqual(["a", "b", expect.stringMatching(/dropped/)]);
  });

  it("cuts the line that overflows the byte budget on a character boundary", () => {
    const logs = createLogCollector({ maxLogLines: 10, maxLogBytes: 7 });
    logs.add("log", "abc");
    expect(logs.add("log", "€€")).toEqual({ level: "log", text: "€" }); // 3 bytes left: one €, not half of the second
    expect(logs.add("log", "more")).toBeUndefined();
    expect(truncateUtf8("a€b", 2)).toBe("a");
    expect(truncateUtf8("😀x", 4)).toBe("😀");
  });

  it("can be truncated from the other side of IPC", () => {
    const logs = createLogCollector(defaultExecutionLimits);
    logs.add("log", "kept");
    logs.truncate();
    expect(logs.add("log", "late")).toBeUndefined();
    expect(logs.lines()).toHaveLength(2);
  });
});

describe("IPC parsing treats the other side as untrusted", () => {
  it("accepts well-formed child messages", () => {
    expect(parseChildMessage({ t: "sdk-call", id: 1, callId: 2, service: "models", method: "listModels", requestJson: "{}" })).toEqual(
      { t: "sdk-call", id: 1, callId: 2, service: "models", method: "listModels", requestJson: "{}" },
    );
    expect(parseChildMessage({ t: "done", id: 3, outcome: { kind: "limit", limit: "memory", message: "m" } })).toMatchObject({
      t: "done",
    });
  });

  it.each([
    ["not an object", "ready"],
    ["unknown type", { t: "exec", id: 1 }],
    ["fractional id", { t: "log", id: 1.5, level: "log", text: "x" }],
    ["unknown log level", { t: "log", id: 1, level: "trace", text: "x" }],
    ["object instead of text", { t: "log", id: 1, level: "log", text: { toString: "x" } }],
    ["empty method", { t: "sdk-call", id: 1, callId: 1, service: "models", method: "", requestJson: "{}" }],
    ["huge service name", { t: "sdk-call", id: 1, callId: 1, service: "s".repeat(129), method: "m", requestJson: "{}" }],
    ["non-string request", { t: "sdk-call", id: 1, callId: 1, service: "s", method: "m", requestJson: {} }],
    ["a child claiming a crash", { t: "done", id: 1, outcome: { kind: "limit", limit: "crash", message: "" } }],
    ["an ok without JSON", { t: "done", id: 1, outcome: { kind: "ok", returnJson: 1 } }],
  ])("drops a child message with %s", (_label, raw) => {
    expect(parseChildMessage(raw)).toBeUndefined();
  });

  it("parses parent messages strictly too", () => {
    expect(parseParentMessage({ t: "sdk-result", id: 1, callId: 1, reply: ["ok", "{}"] })).toBeDefined();
    expect(parseParentMessage({ t: "sdk-result", id: 1, callId: 1, reply: ["ok", "{}", "extra"] })).toBeUndefined();
    expect(parseParentMessage({ t: "run", id: 1, js: "", services: { m: [1] }, limits: defaultExecutionLimits })).toBeUndefined();
    expect(parseParentMessage({ t: "run", id: 1, js: "", services: {}, limits: { ...defaultExecutionLimits, memoryMb: -1 } })).toBeUndefined();
  });
});

describe("agent code preparation and stack mapping", () => {
  it("decodes base64 VLQ segments", () => {
    expect(decodeVlqSegment("AAAA")).toEqual([0, 0, 0, 0]);
    expect(decodeVlqSegment("gB")).toEqual([16]);
    expect(decodeVlqSegment("D")).toEqual([-1]);
    expect(decodeVlqSegment("g")).toBeUndefined();
    expect(decodeVlqSegment("*")).toBeUndefined();
  });

  it("maps generated positions back to the original line, after removed types", () => {
    const prepared = prepareAgentCode("type A = number;\ninterface B {\n  x: A;\n}\nconst b: B = { x: 1 };\nthrow new Error(String(b.x));");
    expect(prepared.kind).toBe("ok");
    if (prepared.kind !== "ok") return;
    expect(prepared.js.startsWith('"use strict";\n(async function main() {')).toBe(true);
    expect(prepared.js).not.toContain("sourceMappingURL");
    const lines = prepared.js.split("\n");
    const throwLine = lines.findIndex((l) => l.includes("throw new Error"));
    const column = (lines[throwLine] ?? "").indexOf("throw");
    expect(prepared.mapper.originalPosition(throwLine, column)).toEqual({ line: 6, column: 0 });
    expect(createPositionMapper("").originalPosition(0, 0)).toBeUndefined();
  });

  it("keeps only agent frames and maps them; the guest's text cannot add host frames", () => {
    const prepared = prepareAgentCode("type T = string;\nconst f = (): never => {\n  throw new Error('x');\n};\nf();");
    if (prepared.kind !== "ok") throw new Error("prepare failed");
    const lines = prepared.js.split("\n");
    const row = lines.findIndex((l) => l.includes("throw")) + 1;
    const col = (lines[row - 1] ?? "").indexOf("throw") + 1;
    const stack = [
      "Error: x",
      `    at f (agent.js:${row}:${col})`,
      "    at run (protogate:prelude:300:20)",
      "    at Array.map (<anonymous>)",
      "    at Object.<anonymous> (/srv/node_modules/isolated-vm/x.js:1:1)",
      "    at fake (agent.js:999:1) extra",
    ].join("\n");
    expect(cleanGuestStack({ name: "Error", message: "x", stack }, prepared)).toBe("Error: x\n    at f (agent.ts:3:3)");
    expect(mapLogPositions(`Error: x\n    at f (agent.js:${row}:${col})`, prepared)).toBe("Error: x\n    at f (agent.ts:3:3)");
  });

  it("reports syntax errors with the agent's line and column", () => {
    expect(prepareAgentCode("const ok = 1;\nconst broken = ;")).toEqual({
      kind: "error",
      error: {
        name: "SyntaxError",
        message: "Expression expected.",
        stack: "SyntaxError: Expression expected.\n    at agent.ts:2:16",
      },
    });
    expect(prepareAgentCode("return 1;\n}); globalThis.x = 1; (async function () {")).toMatchObject({
      kind: "error",
      error: { name: "SyntaxError", stack: expect.stringContaining("agent.ts:2:") },
    });
  });
});

describe("limits", () => {
  it("layers request limits over executor limits over defaults", () => {
    expect(resolveLimits({ wallTimeMs: 1000 }, { maxSdkCalls: 3 })).toEqual({
      ...defaultExecutionLimits,
      wallTimeMs: 1000,
      maxSdkCalls: 3,
    });
    expect(resolveLimits({ wallTimeMs: 1500.7 }).wallTimeMs).toBe(1500);
  });

  it.each([{ wallTimeMs: 0 }, { maxOutputBytes: -1 }, { maxLogLines: Number.NaN }, { memoryMb: 7 }])("rejects %o", (bad) => {
    expect(() => resolveLimits(bad)).toThrow(RangeError);
  });
});
