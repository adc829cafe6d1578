import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, type DescFile } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema } from "@bufbuild/protobuf/wkt";
import { getComments } from "@bufbuild/protoplugin";
import { beforeAll, describe, expect, it } from "vitest";
import { generateSandboxSurface, readDescriptorBundle, type SandboxSurface } from "../../../sandbox/codegen/index.js";
import { parseSandboxPluginOptions, sandboxPlugin } from "../../../sandbox/codegen/sandbox-plugin.js";
import { type CommentedDesc, sourceComment } from "../../../sandbox/codegen/source-comments.js";
import { buildRepoImage, filesUnder, type Image, repoRoot } from "./build-image.js";
import { compileDiagnostics } from "./compile-declarations.js";

/** The options buf.gen.yaml gives the plugin. */
const repoOptions = { names: { "protogate.v1.ModelService": "models" } };

let image: Image;
let files: DescFile[];
let surface: SandboxSurface;

beforeAll(() => {
  image = buildRepoImage();
  files = filesUnder(image.registry, "protogate/", "grpc/");
  surface = generateSandboxSurface(files, repoOptions);
}, 60_000);

/** The declaration block (JSDoc included) of a top-level type. */
function declaration(name: string): string {
  const d = surface.declarations;
  const start = d.search(new RegExp(`^(interface|type) ${name}\\b`, "m"));
  expect(start, `declaration of ${name}`).toBeGreaterThan(0);
  const docStart = d.lastIndexOf("\n\n", start);
  const end = d.indexOf("\n\n", start);
  return d.slice(docStart, end === -1 ? undefined : end);
}

describe("the gateway object", () => {
  it("has one property per exposed service, health excluded", () => {
    expect(surface.declarations).toContain("declare const gateway: {");
    expect(surface.declarations).toContain("readonly inference: InferenceService;");
    expect(surface.declarations).toContain("readonly models: ModelService;");
    expect(surface.declarations).not.toMatch(/Health/);
    expect(surface.services.map((s) => [s.property, s.desc.typeName])).toEqual([
      ["inference", "protogate.v1.InferenceService"],
      ["models", "protogate.v1.ModelService"],
      ["stats", "protogate.v1.StatsService"],
    ]);
  });

  it("has lowerCamel methods; server streams resolve to all events", () => {
    const d = surface.declarations;
    expect(d).toContain("  chat(request: ChatRequest): Promise<ChatResponse>;");
    expect(d).toContain("  chatStream(request: ChatRequest): Promise<ChatStreamResponse[]>;");
    expect(d).toContain("  listModels(request?: ListModelsRequest): Promise<ListModelsResponse>;");
    expect(d).toContain("  getModel(request: GetModelRequest): Promise<GetModelResponse>;");
    expect(d).toContain("Server-streaming: resolves once the stream has ended, to all of its ChatStreamResponse messages in order.");
    const inference = surface.services[0];
    expect(inference?.methods.map((m) => [m.name, m.kind, m.desc.name])).toEqual([
      ["chat", "unary", "Chat"],
      ["chatStream", "server_stream_collected", "ChatStream"],
    ]);
  });

  it("declares SdkError with a snake_case code and JsonValue", () => {
    const d = surface.declarations;
    expect(d).toContain("declare class SdkError extends Error {");
    expect(d).toContain("  readonly code: SdkErrorCode;");
    expect(d).toContain('  | "invalid_argument"');
    expect(d).toContain("type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };");
  });
});

// Each compile builds a fresh TypeScript program (seconds on a busy machine).
describe("the declarations", { timeout: 60_000 }, () => {
  it("compile under strict TypeScript with only the ES2023 library", () => {
    expect(compileDiagnostics(surface.declarations)).toEqual([]);
  });

  it("accept correct sandbox-style usage, including oneof narrowing and int64 strings", () => {
    const usage = `
      async function main(): Promise<unknown> {
        const r = await gateway.inference.chat({
          model: "llama3",
          messages: [
            { role: "ROLE_SYSTEM", content: "Be brief." },
            { role: "ROLE_USER", content: "hi" },
          ],
          sampling: { temperature: 0.2, seed: "9007199254740993", stop: ["\\n"] },
          toolChoice: { mode: "TOOL_CHOICE_MODE_AUTO" },
          responseFormat: { jsonObject: {} },
          backendOptions: { ollama: { num_ctx: 4096, keep_alive: "5m", nested: [1, null] } },
        });
        const calls = r.message?.toolCalls ?? [];
        await gateway.inference.chat({
          model: r.model,
          messages: [{ role: "ROLE_ASSISTANT", content: "", toolCalls: calls }],
        });
        const events = await gateway.inference.chatStream({ model: "m", messages: [{ role: "ROLE_USER" }] });
        let text = "";
        for (const e of events) {
          if (e.contentDelta) text += e.contentDelta.text;
          if ("end" in e && e.end) text += e.end.finishReason;
        }
        const models = await gateway.models.listModels();
        const size: string | undefined = models.models[0]?.sizeBytes;
        try {
          await gateway.models.getModel({ model: "x" });
        } catch (e) {
          if (e instanceof SdkError && e.code === "not_found") return null;
        }
        return { text, size };
      }
      export {};
    `;
    expect(compileDiagnostics(surface.declarations, usage)).toEqual([]);
  });

  it("reject the usual hallucinations", () => {
    const wrong = (body: string) =>
      compileDiagnostics(surface.declarations, `async function main() {\n${body}\n}\nexport {};`);
    expect(wrong('await gateway.inference.complete({ model: "m", messages: [] });')).toHaveLength(1);
    expect(wrong('await gateway.inference.chat({ model: "m", messages: [{ role: "USER" }] });')).toHaveLength(1);
    expect(wrong('await gateway.inference.chat({ messages: [{ role: "ROLE_USER" }] });')).toHaveLength(1);
    expect(wrong('await gateway.inference.chat({ model: "m", messages: [], toolChoice: { mode: "TOOL_CHOICE_MODE_AUTO", function: "f" } });')).toHaveLength(1);
    expect(wrong('await gateway.inference.chat({ model: "m", messages: [], responseFormat: {} });')).toHaveLength(1);
    expect(wrong('await gateway.inference.chat({ model: "m", messages: [], responseFormat: { text: "plain" } });')).toHaveLength(1);
  });

  it("document fields with comments and rules in words", () => {
    const chatRequest = declaration("ChatRequest");
    expect(chatRequest).toContain("The model: an id from ModelService.ListModels");
    expect(chatRequest).toContain("Rules: required; length 1–256 characters.\n   */\n  model: string;");
    expect(chatRequest).toContain("Rules: required; at least 1 item, at most 4096 items.\n   */\n  messages: Message[];");
    expect(chatRequest).toContain("Rules: must match /^[A-Za-z0-9._:-]{0,128}$/.\n   */\n  sessionId?: string;");
    const message = declaration("Message");
    expect(message).toContain(
      "Rules: one of ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL; required (not ROLE_UNSPECIFIED).\n   */\n  role: Role;",
    );
    expect(message).toContain("Rules: a tool message needs toolCallId; only assistant messages carry toolCalls.");
    const sampling = declaration("Sampling");
    expect(sampling).toContain("Rules: ≥ 0 and ≤ 2.\n   */\n  temperature?: number;");
    expect(sampling).toContain("Rules: > 0 and ≤ 1.\n   */\n  topP?: number;");
    expect(sampling).toContain("adds up to topP;");
    expect(sampling).toContain("Rules: at most 16 items; each item: length 1–256 characters.\n   */\n  stop?: string[];");
    expect(declaration("Tool")).toContain("Rules: required; must match /^[A-Za-z0-9_.-]{1,64}$/.\n   */\n  name: string;");
    // Responses are not validated: no rules there.
    expect(declaration("ChatResponse")).not.toContain("Rules:");
  });

  it("write enums as unions of their value names, with each value documented", () => {
    const role = declaration("Role");
    expect(role).toContain('type Role =\n  | "ROLE_UNSPECIFIED"\n  | "ROLE_SYSTEM"');
    expect(role).toContain('- "ROLE_UNSPECIFIED": Not set; always rejected.');
    expect(role).toContain('- "ROLE_TOOL": The result of a tool call, linked to it by `toolCallId`.');
  });

  it("write oneofs as unions of object types", () => {
    const toolChoice = declaration("ToolChoice");
    expect(toolChoice).toContain("Exactly one of `mode`, `function` must be set.");
    expect(toolChoice).toMatch(/\| \{\n(.*\n)*? {6}mode: ToolChoiceMode;\n {6}function\?: never;\n {4}\}/);
    expect(toolChoice).toMatch(/\| \{\n {6}mode\?: never;\n(.*\n)*? {6}function: string;\n {4}\};/);
    // A required oneof has no all-absent variant; an optional one has.
    expect(toolChoice.match(/\| \{/g)).toHaveLength(2);
    const events = declaration("ChatStreamResponse");
    expect(events.match(/\| \{/g)).toHaveLength(7);
    expect(events).toContain("At most one of `start`, `contentDelta`, `reasoningDelta`, `toolCallDelta`, `toolCall`, `end` is set.");
  });

  it("write 64-bit integers as strings in responses and string | number in requests", () => {
    expect(declaration("Sampling")).toContain("  seed?: string | number;");
    expect(declaration("Sampling")).toContain("A 64-bit integer: a number, or a decimal string for values beyond 2^53.");
    expect(declaration("Model")).toContain("  sizeBytes?: string;");
    expect(declaration("Model")).toContain("A 64-bit integer, written as a decimal string.");
  });

  it("make request fields optional unless a rule rejects their zero value, and response fields present unless explicit", () => {
    const input = declaration("ToolCallInput");
    expect(input).toContain("The request form of ToolCall.");
    expect(input).toMatch(/\n {2}id: string;/);
    expect(input).toMatch(/\n {2}arguments\?: string;/);
    expect(input).toMatch(/\n {2}argumentsStatus\?: ArgumentsStatus;/);
    const output = declaration("ToolCall");
    expect(output).toMatch(/\n {2}argumentsStatus: ArgumentsStatus;/);
    expect(output).toMatch(/\n {2}idSynthesized: boolean;/);
    expect(declaration("Message")).toContain("  toolCalls?: ToolCallInput[];");
    expect(declaration("AssistantMessage")).toContain("  toolCalls: ToolCall[];");
    expect(declaration("ChatResponse")).toContain("  message?: AssistantMessage;");
    expect(declaration("ChatResponse")).toContain("  warnings: Warning[];");
    expect(declaration("Timings")).toContain("  backendPromptMs?: number;");
    expect(declaration("BackendOptions")).toContain("  ollama?: { [key: string]: JsonValue };");
    expect(declaration("TextFormat")).toContain("interface TextFormat {\n  [key: string]: never;\n}");
  });
});

describe("the docs index", () => {
  it("has an entry per service, method, message, field and enum, with unique paths", () => {
    const byPath = new Map(surface.docs.entries.map((e) => [e.path, e]));
    expect(byPath.size).toBe(surface.docs.entries.length);
    expect(byPath.get("gateway.inference")).toMatchObject({ kind: "service", protoName: "protogate.v1.InferenceService" });
    expect(byPath.get("gateway.inference.chat")).toMatchObject({
      kind: "method",
      protoName: "protogate.v1.InferenceService.Chat",
      signature: "gateway.inference.chat(request: ChatRequest): Promise<ChatResponse>",
    });
    expect(byPath.get("gateway.models.listModels")?.signature).toBe(
      "gateway.models.listModels(request?: ListModelsRequest): Promise<ListModelsResponse>",
    );
    expect(byPath.get("ChatRequest")?.kind).toBe("message");
    expect(byPath.get("ChatRequest.messages")).toMatchObject({
      kind: "field",
      protoName: "protogate.v1.ChatRequest.messages",
      signature: "messages: Message[]",
    });
    expect(byPath.get("ChatRequest.messages")?.doc).toContain("Rules: required; at least 1 item, at most 4096 items.");
    expect(byPath.get("ToolChoice")?.signature).toBe("type ToolChoice = { mode: ToolChoiceMode } | { function: string }");
    expect(byPath.get("Role")).toMatchObject({ kind: "enum" });
    expect(byPath.get("Role")?.doc).toContain('- "ROLE_USER": A message from the end user.');
    const kinds = new Set(surface.docs.entries.map((e) => e.kind));
    expect([...kinds].sort()).toEqual(["enum", "field", "message", "method", "service"]);
  });
});

describe("comments", () => {
  it("match protoplugin's getComments for every element", () => {
    const descs: CommentedDesc[] = [];
    for (const file of files) {
      descs.push(...file.services, ...file.services.flatMap((s) => s.methods), ...file.enums);
      for (const m of file.messages) descs.push(m, ...m.fields, ...m.oneofs, ...m.nestedMessages);
      descs.push(...file.enums.flatMap((e) => e.values));
    }
    expect(descs.length).toBeGreaterThan(100);
    for (const desc of descs) {
      const c = getComments(desc);
      const expected = (c.leading ?? c.trailing ?? "")
        .split("\n")
        .map((l) => (l.startsWith(" ") ? l.slice(1) : l).trimEnd())
        .join("\n")
        .trim();
      expect(sourceComment(desc), desc.toString()).toBe(expected);
    }
  });
});

describe("the protoc plugin", () => {
  it("writes what generateSandboxSurface returns, and gen/sandbox is up to date", () => {
    const request = create(CodeGeneratorRequestSchema, {
      fileToGenerate: files.map((f) => `${f.name}.proto`),
      parameter: "target=ts,name=protogate.v1.ModelService:models",
      protoFile: image.fileSet.file,
    });
    const response = sandboxPlugin.run(request);
    expect(response.error ?? "").toBe("");
    const out = new Map(response.file.map((f) => [f.name, f.content]));
    expect([...out.keys()].sort()).toEqual(["descriptors.json", "docs-index.json", "gateway.d.ts"]);
    const expected = generateSandboxSurface(files, { ...repoOptions, generatedBy: "protoc-gen-sandbox" });
    expect(out.get("gateway.d.ts")).toBe(expected.declarations);
    expect(JSON.parse(out.get("docs-index.json") ?? "")).toEqual(expected.docs);
    expect(readFileSync(join(repoRoot, "gen/sandbox/gateway.d.ts"), "utf8")).toBe(out.get("gateway.d.ts"));
    expect(readFileSync(join(repoRoot, "gen/sandbox/docs-index.json"), "utf8")).toBe(out.get("docs-index.json"));
    expect(readFileSync(join(repoRoot, "gen/sandbox/descriptors.json"), "utf8")).toBe(out.get("descriptors.json"));
  });

  it("carries its commented input in descriptors.json, so a server generates the same SDK at run time", () => {
    const request = create(CodeGeneratorRequestSchema, {
      fileToGenerate: files.map((f) => `${f.name}.proto`),
      parameter: "target=ts,name=protogate.v1.ModelService:models",
      protoFile: image.fileSet.file,
    });
    const out = new Map(sandboxPlugin.run(request).file.map((f) => [f.name, f.content]));
    const bundle = readDescriptorBundle(JSON.parse(out.get("descriptors.json") ?? ""));
    // Only our own files travel; the well-known types and protovalidate's rules are resolved at run time.
    expect(bundle.files.map((f) => f.name).every((name) => name.startsWith("protogate/"))).toBe(true);
    expect(bundle.selection).toEqual({ exclude: [], names: { "protogate.v1.ModelService": "models" } });
    const again = generateSandboxSurface(bundle.files, { ...bundle.selection, generatedBy: "protoc-gen-sandbox" });
    expect(again.declarations).toBe(out.get("gateway.d.ts"));
  });

  it("refuses a target other than ts", () => {
    const request = create(CodeGeneratorRequestSchema, {
      fileToGenerate: files.map((f) => `${f.name}.proto`),
      parameter: "target=js",
      protoFile: image.fileSet.file,
    });
    expect(() => sandboxPlugin.run(request)).toThrow(/target=ts/);
  });

  it("parses include, exclude and name options and rejects unknown ones", () => {
    expect(
      parseSandboxPluginOptions([
        { key: "include", value: "a.v1.FooService" },
        { key: "exclude", value: "a.v1.BarService" },
        { key: "name", value: "a.v1.FooService:foo" },
      ]),
    ).toEqual({
      selection: { include: ["a.v1.FooService"], exclude: ["a.v1.BarService"], names: { "a.v1.FooService": "foo" } },
    });
    expect(() => parseSandboxPluginOptions([{ key: "name", value: "a.v1.FooService" }])).toThrow(/name=/);
    expect(() => parseSandboxPluginOptions([{ key: "services", value: "x" }])).toThrow(/unknown option services/);
  });
});
