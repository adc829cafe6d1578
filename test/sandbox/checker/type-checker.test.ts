import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CheckResult,
  createTypeScriptChecker,
  type SandboxDiagnostic,
  type TypeScriptChecker,
} from "../../../sandbox/checker/index.js";
import { declarations, docs } from "./sdk-fixture.js";

let checker: TypeScriptChecker;

beforeAll(async () => {
  checker = createTypeScriptChecker({ declarations, docs });
  // The first check waits for the worker to load TypeScript and warm up.
  await checker.check("return 1;");
}, 90_000);

afterAll(async () => {
  await checker.close();
});

function diagnosticsOf(result: CheckResult): readonly SandboxDiagnostic[] {
  if (result.kind !== "diagnostics") throw new Error("expected diagnostics, got ok");
  return result.diagnostics;
}

/** Checks code that must produce exactly one diagnostic, and returns it. */
async function single(code: string): Promise<SandboxDiagnostic> {
  const diagnostics = diagnosticsOf(await checker.check(code));
  expect(diagnostics, JSON.stringify(diagnostics, null, 2)).toHaveLength(1);
  return diagnostics[0] as SandboxDiagnostic;
}

const chat = 'gateway.inference.chat({ model: "llama3", messages: [{ role: "ROLE_USER", content: "hi" }] })';

describe("correct code", () => {
  it("passes: unary, streaming, models, errors, helpers", async () => {
    const result = await checker.check(`
const answer = await ${chat};
const events = await gateway.inference.chatStream({ model: answer.model, messages: [{ role: "ROLE_USER", content: "more" }] });
let text = "";
for (const event of events) {
  if (event.contentDelta) text += event.contentDelta.text;
  else if (event.toolCall) text += event.toolCall.call?.name ?? "";
}
const { models } = await gateway.models.listModels();
const loaded = models.filter((m) => m.state === "MODEL_STATE_LOADED").map((m) => m.id);
let missing = false;
try {
  await gateway.models.getModel({ model: "nope" });
} catch (e) {
  missing = e instanceof SdkError && e.code === "not_found";
}
console.log(JSON.stringify({ loaded }), new Map([[1, 2]]).size, [1, 2].at(-1));
return { text, loaded, missing, content: answer.message?.content ?? "" };
`);
    expect(result).toMatchObject({ kind: "ok" });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it("passes without a return statement", async () => {
    expect((await checker.check("await gateway.models.listModels();")).kind).toBe("ok");
  });
});

describe("hallucinated SDK use", () => {
  it("a non-existent service names the service that has the method", async () => {
    const d = await single('const r = await gateway.chat.send({ model: "m" });\nreturn r;');
    expect(d).toMatchObject({ line: 1, column: 25, code: 2339 });
    expect(d.message).toContain("Property 'chat' does not exist");
    expect(d.help).toContain("Did you mean `gateway.inference.chat`?");
    expect(d.help).toContain("- inference: InferenceService — Chat completions on local models.");
    expect(d.help).toContain("- models: ModelService");
  });

  it("a non-existent method lists the service's methods with signatures and docs", async () => {
    const d = await single('const x = 1;\nreturn await gateway.inference.complete({ model: "m", messages: [] });');
    expect(d).toMatchObject({ line: 2, column: 32, code: 2339 });
    expect(d.help).toContain("`complete` is not a member of `gateway.inference`.");
    expect(d.help).toContain("- chat(request: ChatRequest): Promise<ChatResponse> — Generates one complete answer.");
    expect(d.help).toContain("- chatStream(request: ChatRequest): Promise<ChatStreamResponse[]>");
  });

  it("a near miss of a method suggests it", async () => {
    const d = await single("return await gateway.models.listModel();");
    expect(d.code).toBe(2551);
    expect(d.help.split("\n")[0]).toBe("`listModel` is not a member of `gateway.models`. Did you mean `gateway.models.listModels`?");
    expect(d.help.split("\n")[2]).toMatch(/^- listModels\(request\?: ListModelsRequest\): Promise<ListModelsResponse> — Lists every model/);
  });

  it("a misspelled field lists the request's fields, nearest first, with docs and rules", async () => {
    const d = await single(
      'return await gateway.inference.chat({\n  model: "m",\n  mesages: [{ role: "ROLE_USER", content: "hi" }],\n});',
    );
    expect(d).toMatchObject({ line: 3, column: 3, code: 2561 });
    expect(d.help).toContain("`mesages` is not a field of ChatRequest. Did you mean `messages`?");
    const fields = d.help.split("\n").filter((l) => l.startsWith("- "));
    expect(fields[0]).toBe(
      "- messages: Message[] — The conversation so far, oldest first; at least one message. Rules: required; at least 1 item, at most 4096 items.",
    );
    expect(d.help).toContain("- sessionId?: string");
  });

  it("a missing required field names it first, with its rules", async () => {
    const d = await single('return await gateway.inference.chat({ messages: [{ role: "ROLE_USER", content: "hi" }] });');
    expect(d).toMatchObject({ line: 1, column: 37, code: 2345 });
    expect(d.message).toContain("Property 'model' is missing");
    expect(d.help).toContain("  chat(request: ChatRequest): Promise<ChatResponse>");
    expect(d.help).toContain("ChatRequest requires `model`.");
    const fields = d.help.split("\n").filter((l) => l.startsWith("- "));
    expect(fields[0]).toMatch(/^- model: string — The model: an id from ModelService.ListModels.* Rules: required; length 1–256 characters\.$/);
  });

  it("a missing required field of a nested message is explained at that message", async () => {
    const d = await single('return await gateway.inference.chat({ model: "m", messages: [{ content: "hi" }] });');
    expect(d).toMatchObject({ line: 1, column: 62, code: 2741 });
    expect(d.help).toContain("Message requires `role`.");
    expect(d.help).toContain("- role: Role — Who wrote the message. Rules: one of ROLE_SYSTEM");
  });

  it("a wrong enum value lists the allowed values, nearest first", async () => {
    const d = await single('return await gateway.inference.chat({ model: "m", messages: [{ role: "USER", content: "hi" }] });');
    expect(d).toMatchObject({ line: 1, column: 64, code: 2322 });
    expect(d.message).toContain(`Type '"USER"' is not assignable to type 'Role'`);
    expect(d.help).toContain('Did you mean "ROLE_USER"?');
    const values = d.help.split("\n").filter((l) => l.startsWith('- "'));
    expect(values[0]).toBe('- "ROLE_USER" — A message from the end user.');
    expect(values).toHaveLength(6);
    expect(d.help).toContain("required (not ROLE_UNSPECIFIED)");
  });

  it("a wrong type names the field's type, docs and rules", async () => {
    const d = await single(
      'return await gateway.inference.chat({\n  model: "m",\n  messages: [{ role: "ROLE_USER", content: "hi" }],\n  sampling: { temperature: "hot" },\n});',
    );
    expect(d).toMatchObject({ line: 4, column: 15, code: 2322 });
    expect(d.help).toContain("`temperature` expects number:");
    expect(d.help).toContain("- temperature?: number — Randomness, from 0 (greedy) to 2. Rules: ≥ 0 and ≤ 2.");
  });

  it("a wrong argument shows the method's signature and request fields", async () => {
    const d = await single('return await gateway.inference.chat("hello");');
    expect(d).toMatchObject({ line: 1, column: 37, code: 2345 });
    expect(d.help).toContain("`gateway.inference.chat`:");
    expect(d.help).toContain("- model: string");
  });

  it("both members of a oneof are rejected with the oneof explained", async () => {
    const d = await single(
      'return await gateway.inference.chat({ model: "m", messages: [], toolChoice: { mode: "TOOL_CHOICE_MODE_AUTO", function: "f" } });',
    );
    expect(d.code).toBe(2322);
    expect(d.help).toContain("`function` cannot be set together with another field of the same oneof");
    expect(d.help).toContain("ToolChoice: Which tools the model may or must call. Exactly one of `mode`, `function` must be set.");
    expect(d.help).toContain("- mode: ToolChoiceMode");
    expect(d.help).toContain("- function: string");
  });

  it("an unknown name points at gateway and matching docs", async () => {
    const d = await single('return await inference.chat({ model: "m", messages: [] });');
    expect(d).toMatchObject({ line: 1, column: 14, code: 2304 });
    expect(d.help).toContain("In scope: `gateway` (inference, models, stats)");
    expect(d.help).toContain("- gateway.inference: InferenceService");
  });

  it("an optional response field used without a check explains ?. and ??", async () => {
    const d = await single(`const r = await ${chat};\nreturn r.message.content;`);
    expect(d).toMatchObject({ line: 2, column: 8 });
    expect(d.help).toContain("may be absent");
    expect(d.help).toContain("- message?: AssistantMessage — The answer.");
  });

  it("a caught error of type unknown explains SdkError", async () => {
    const d = await single("try { await gateway.models.listModels(); } catch (e) { return e.code; }");
    expect(d.code).toBe(18046);
    expect(d.help).toContain("e instanceof SdkError");
  });
});

describe("positions", () => {
  it("are relative to the user's code, also on later lines and after tabs", async () => {
    const d = await single("const a = 1;\n\n\tconst b: string = a;\nreturn b;");
    expect(d).toMatchObject({ line: 3, column: 8, code: 2322 });
  });

  it("map an error at the end of the code to its last line", async () => {
    const diagnostics = diagnosticsOf(await checker.check("if (true) {\n  return 1;"));
    expect(diagnostics).toEqual([
      {
        line: 2,
        column: 12,
        code: 1005,
        message: "'}' expected: a block opened in your code is not closed.",
        help: "Close every `{` you open; your code is the body of an async function and ends with `return value`.",
      },
    ]);
  });
});

describe("forbidden constructs", () => {
  const cases: [string, string, number, number][] = [
    ['import fs from "fs";\nreturn 1;', "forbidden_import", 1, 1],
    ['const m = await import("fs");\nreturn m;', "forbidden_import", 1, 17],
    ["return import.meta;", "forbidden_import", 1, 8],
    ['const fs = require("fs");\nreturn fs;', "forbidden_require", 1, 12],
    ['return eval("1 + 1");', "forbidden_eval", 1, 8],
    ['const f = new Function("return 1");\nreturn f();', "forbidden_function_constructor", 1, 15],
    ['const f = Function("return 1");\nreturn f();', "forbidden_function_constructor", 1, 11],
    ['return (() => 1).constructor("return 1")();', "forbidden_constructor_access", 1, 18],
    ['const c = [].map["constructor"];\nreturn c;', "forbidden_constructor_access", 1, 18],
    ["const { constructor: C } = async () => 1;\nreturn C;", "forbidden_constructor_access", 1, 9],
    ['const g = globalThis;\nreturn g["ev" + "al"];', "forbidden_global", 1, 11],
    ['return (globalThis as any)["eval"]("1");', "forbidden_global", 1, 9],
  ];

  for (const [code, expected, line, column] of cases) {
    it(`${JSON.stringify(code.split("\n")[0])} → ${expected}`, async () => {
      const diagnostics = diagnosticsOf(await checker.check(code));
      const found = diagnostics.find((d) => d.code === expected);
      expect(found, JSON.stringify(diagnostics, null, 2)).toMatchObject({ line, column });
      expect(found?.help).not.toBe("");
    });
  }

  it("allows the forbidden names as property names and object keys", async () => {
    const result = await checker.check(
      'const o = { eval: 1, require: 2, constructor: 3, Function: 4 };\nreturn o.eval + o.require + o.Function;',
    );
    expect(result.kind).toBe("ok");
  });

  it("rejects code that closes the wrapping function early", async () => {
    const diagnostics = diagnosticsOf(await checker.check('return 1;\n}\nconsole.log("outside");\n{'));
    expect(diagnostics[0]).toMatchObject({ line: 2, column: 1, code: "unbalanced_body" });
  });

  it("rejects code longer than the limit without checking it", async () => {
    const d = await single(`return ${"1 + ".repeat(30_000)}1;`);
    expect(d.code).toBe("code_too_long");
  });
});

describe("help limits", () => {
  it("caps each help at 1,500 characters and the total at 6,000", async () => {
    const lines = Array.from({ length: 12 }, (_, i) => `await gateway.inference.chat({ model: "m", messages: [], bogus${i}: 1 });`);
    const diagnostics = diagnosticsOf(await checker.check(lines.join("\n")));
    expect(diagnostics).toHaveLength(12);
    for (const d of diagnostics) expect(d.help.length).toBeLessThanOrEqual(1500);
    const total = diagnostics.reduce((n, d) => n + d.help.length, 0);
    expect(total).toBeLessThanOrEqual(6000);
    expect(diagnostics[0]?.help).toContain("`bogus0` is not a field of ChatRequest.");
    expect(diagnostics[11]?.help).toBe("More help is left out; fix the errors above first.");
    expect(diagnostics.map((d) => d.line)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it("refers to an earlier identical help instead of repeating it", async () => {
    const diagnostics = diagnosticsOf(await checker.check("gateway.nope;\ngateway.nope;"));
    expect(diagnostics[0]?.help).toContain("`nope` is not a member of `gateway`.");
    expect(diagnostics[1]?.help).toBe("Same help as for line 1.");
  });
});

describe("searchDocs", () => {
  it("finds methods, fields and enums", () => {
    expect(checker.searchDocs("chat")[0]?.path).toBe("gateway.inference.chat");
    expect(checker.searchDocs("gateway.models.listModels", 1)[0]?.kind).toBe("method");
    expect(checker.searchDocs("temperature", 3).map((e) => e.path)).toContain("Sampling.temperature");
    expect(checker.searchDocs("Role", 1)[0]?.path).toBe("Role");
    expect(checker.searchDocs("tool calls", 5).length).toBe(5);
    expect(checker.searchDocs("", 5)).toEqual([]);
  });
});

describe("scheduling", () => {
  it("answers concurrent checks each with its own result", async () => {
    const [a, b, c] = await Promise.all([
      checker.check("return 1;"),
      checker.check("return gateway.nope;"),
      checker.check(`return await ${chat};`),
    ]);
    expect(a.kind).toBe("ok");
    expect(diagnosticsOf(b)[0]?.code).toBe(2339);
    expect(c.kind).toBe("ok");
  });
});
