import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { embeddedSandboxSettings } from "../../server/config/sandbox-settings.js";
import type { RunningGateway } from "../../server/gateway.js";
import { createLogger } from "../../server/log/logger.js";
import {
  createProtogateClient,
  type ProtogateClient,
  SandboxDocsKind,
  SandboxLimitKind,
  SandboxLogLevel,
  SandboxOutcome,
} from "../../sdk/index.js";
import { createOpenAiFake, DEFAULT_CONTENT, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { scrapeMetrics } from "../helpers/scrape-metrics.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";
import { isAlive } from "../sandbox/executor/harness.js";

/** A hallucination and what the help must name. */
interface Hallucination {
  readonly name: string;
  readonly code: string;
  readonly line: number;
  readonly help: readonly string[];
}

const hallucinations: readonly Hallucination[] = [
  {
    name: "a service that does not exist",
    code: 'console.log("ran");\nreturn await gateway.chat.send({ model: "qwen.gguf" });',
    line: 2,
    help: ["Did you mean `gateway.inference.chat`?", "- inference: InferenceService"],
  },
  {
    name: "a method that does not exist",
    code: 'return await gateway.inference.complete({ model: "qwen.gguf", messages: [] });',
    line: 1,
    help: ["`complete` is not a member of `gateway.inference`.", "- chat(request: ChatRequest): Promise<ChatResponse>"],
  },
  {
    name: "a misspelled field",
    code: 'return await gateway.inference.chat({\n  model: "qwen.gguf",\n  mesages: [{ role: "ROLE_USER", content: "hi" }],\n});',
    line: 3,
    help: ["`mesages` is not a field of ChatRequest. Did you mean `messages`?", "- messages: Message[]"],
  },
  {
    name: "a missing required field",
    code: 'return await gateway.inference.chat({ messages: [{ role: "ROLE_USER", content: "hi" }] });',
    line: 1,
    help: ["ChatRequest requires `model`.", "- model: string"],
  },
  {
    name: "a wrong enum value",
    code: 'return await gateway.inference.chat({ model: "qwen.gguf", messages: [{ role: "USER", content: "hi" }] });',
    line: 1,
    help: ['Did you mean "ROLE_USER"?', '- "ROLE_USER" — A message from the end user.'],
  },
  {
    name: "a wrong type",
    code: 'return await gateway.inference.chat({\n  model: "qwen.gguf",\n  messages: [{ role: "ROLE_USER", content: "hi" }],\n  sampling: { temperature: "hot" },\n});',
    line: 4,
    help: ["`temperature` expects number:", "- temperature?: number"],
  },
];

const goodProgram = [
  "const { models } = await gateway.models.listModels({});",
  'console.log("models:", models.length);',
  "const answer = await gateway.inference.chat({",
  "  model: models[0]!.id,",
  '  messages: [{ role: "ROLE_USER", content: "Say hi" }],',
  "});",
  "return { ids: models.map((m) => m.id), text: answer.message?.content ?? null, finish: answer.finishReason };",
].join("\n");

describe("SandboxService end to end", () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let client: ProtogateClient;
  const logLines: Array<Record<string, unknown>> = [];
  const chatRequests = () => llama.requests.filter((request) => request.path === "/v1/chat/completions").length;
  const auditLines = () => logLines.filter((line) => line["msg"] === "sandbox run");

  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    gateway = await startTestGateway({
      backends: [{ id: "llamacpp", kind: "openai", url: llama.url }],
      log: createLogger({ write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    client = createProtogateClient({ baseUrl: gateway.url });
    // The first check starts the checker: TypeScript loads and warms up.
    await client.sandbox.check({ code: "return 1;" });
  });

  afterAll(async () => {
    await gateway.close();
    await llama.close();
  });

  describe("hallucinations are rejected before anything runs, with help that names the right member", () => {
    it.each(hallucinations)("$name", async ({ code, line, help }) => {
      const before = chatRequests();
      const check = await client.sandbox.check({ code });
      expect(check.ok).toBe(false);
      expect(check.diagnostics).toHaveLength(1);
      expect(check.diagnostics[0]?.line).toBe(line);
      for (const text of help) expect(check.diagnostics[0]?.help).toContain(text);

      const run = await client.sandbox.execute({ code });
      expect(run.outcome).toBe(SandboxOutcome.DIAGNOSTICS);
      expect(run.diagnostics.map((d) => [d.line, d.column, d.code, d.message, d.help])).toEqual(
        check.diagnostics.map((d) => [d.line, d.column, d.code, d.message, d.help]),
      );
      expect([run.logs, run.calls, run.returnJson, run.runDurationMs]).toEqual([[], [], "", 0]);
      expect(chatRequests()).toBe(before);
    });
  });

  it.each(["connect", "grpc"] as const)("runs a good program over %s: the returned JSON, its logs and the SDK call trace", async (protocol) => {
    const viaProtocol = createProtogateClient({ baseUrl: gateway.url, protocol });
    const before = chatRequests();
    const run = await viaProtocol.sandbox.execute({ code: goodProgram });
    expect(run.outcome).toBe(SandboxOutcome.OK);
    expect(JSON.parse(run.returnJson)).toEqual({ ids: ["qwen.gguf"], text: DEFAULT_CONTENT, finish: "FINISH_REASON_STOP" });
    expect(run.logs.map((l) => [l.level, l.text])).toEqual([[SandboxLogLevel.LOG, "models: 1"]]);
    expect(run.calls.map((c) => [c.service, c.method, c.code])).toEqual([
      ["models", "listModels", "ok"],
      ["inference", "chat", "ok"],
    ]);
    for (const call of run.calls) expect(call.durationMs).toBeGreaterThan(0);
    expect(run.checkDurationMs).toBeGreaterThan(0);
    expect(run.runDurationMs).toBeGreaterThan(0);
    expect(chatRequests()).toBe(before + 1);
    expect((llama.requests.at(-1)?.body as { messages: unknown }).messages).toEqual([{ role: "user", content: "Say hi" }]);
  });

  it("collects a server stream (chatStream) into an array", async () => {
    const run = await client.sandbox.execute({
      code: [
        'const events = await gateway.inference.chatStream({ model: "qwen.gguf", messages: [{ role: "ROLE_USER", content: "hi" }] });',
        'return { first: Object.keys(events[0] ?? {}), last: Object.keys(events.at(-1) ?? {}), text: events.map((e) => e.contentDelta?.text ?? "").join("") };',
      ].join("\n"),
    });
    expect(run.outcome).toBe(SandboxOutcome.OK);
    expect(JSON.parse(run.returnJson)).toEqual({ first: ["start"], last: ["end"], text: DEFAULT_CONTENT });
    expect(run.calls.map((c) => [c.method, c.code])).toEqual([["chatStream", "ok"]]);
  });

  it("hands a service's error to the code as an SdkError it can catch", async () => {
    const run = await client.sandbox.execute({
      code: 'try {\n  await gateway.models.getModel({ model: "llama-typo" });\n  return "found";\n} catch (e) {\n  return e instanceof SdkError ? { code: e.code, message: e.message } : "other";\n}',
    });
    expect(JSON.parse(run.returnJson)).toEqual({ code: "not_found", message: 'model "llama-typo" not found; available: qwen.gguf' });
    expect(run.calls.map((c) => c.code)).toEqual(["not_found"]);
  });

  it("validates requests that type-check against the proto's rules, and sends nothing when they break one", async () => {
    const before = chatRequests();
    const run = await client.sandbox.execute({
      code: 'await gateway.inference.chat({ model: "qwen.gguf", messages: [] });\nreturn "sent";',
    });
    expect(run.outcome).toBe(SandboxOutcome.ERROR);
    expect(run.error).toMatchObject({ name: "SdkError", message: "messages: must contain at least 1 item(s) [repeated.min_items]" });
    expect(run.error?.stack).toContain("agent.ts:1");
    expect(run.calls.map((c) => [c.method, c.code])).toEqual([["chat", "invalid_argument"]]);
    expect(chatRequests()).toBe(before);
  });

  it.each([
    ["`as any`", "return await (gateway.models as any).deleteModel({});"],
    ["a computed name", 'const name = "list" + "Modelz";\nreturn await (gateway.models as Record<string, any>)[name]({});'],
  ])("stops a method that does not exist reached through %s; nothing crosses the boundary", async (_how, code) => {
    const run = await client.sandbox.execute({ code });
    expect(run.outcome).toBe(SandboxOutcome.ERROR);
    expect(run.error?.name).toBe("TypeError");
    expect(run.calls).toEqual([]);
  });

  it("trims an error's stack to the code's own lines", async () => {
    const run = await client.sandbox.execute({ code: 'const x = 1;\nif (x > 0) throw new RangeError("too big");\nreturn x;' });
    expect(run.outcome).toBe(SandboxOutcome.ERROR);
    expect(run.error).toMatchObject({ name: "RangeError", message: "too big" });
    expect(run.error?.stack.split("\n")).toEqual(["RangeError: too big", expect.stringMatching(/^ {4}at .*agent\.ts:2:\d+\)?$/)]);
  });

  it("stops an endless loop at the wall-time limit the request asked for, and the gateway stays healthy", async () => {
    const run = await client.sandbox.execute({ code: "while (true) {}", limits: { wallTimeMs: 300 } });
    expect(run.outcome).toBe(SandboxOutcome.LIMIT);
    expect(run.limit?.kind).toBe(SandboxLimitKind.WALL_TIME);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    expect((await client.models.listModels({})).models.map((m) => m.id)).toEqual(["qwen.gguf"]);
    expect((await client.sandbox.execute({ code: "return 6 * 7;" })).returnJson).toBe("42");
  });

  it("counts an Execute whose client left while it ran as canceled, not as ok", async () => {
    const executions = async (code: string) =>
      (await scrapeMetrics(gateway.url))
        .find("protogate_requests_total", { service: "protogate.v1.SandboxService", method: "Execute", code })
        .reduce((sum, sample) => sum + sample.value, 0);
    const [okBefore, canceledBefore] = [await executions("ok"), await executions("canceled")];
    const controller = new AbortController();
    const running = client.sandbox.execute({ code: "while (true) {}", limits: { wallTimeMs: 20_000 } }, { signal: controller.signal });
    const inFlight = async () =>
      (await scrapeMetrics(gateway.url)).value("protogate_in_flight_requests", { service: "protogate.v1.SandboxService", method: "Execute" });
    await vi.waitFor(async () => expect(await inFlight()).toBe(1), { timeout: 10_000, interval: 20 });
    controller.abort();
    await expect(running).rejects.toMatchObject({ code: Code.Canceled });

    // The sandbox stops the run and answers, to nobody: the request is the client's cancellation all the same.
    await vi.waitFor(async () => expect(await executions("canceled")).toBe(canceledBefore + 1), { timeout: 10_000, interval: 20 });
    await vi.waitFor(async () => expect(await inFlight()).toBe(0), { timeout: 10_000, interval: 20 });
    expect(await executions("ok")).toBe(okBefore);
  });

  it("counts executions by outcome in /metrics", async () => {
    const before = await scrapeMetrics(gateway.url);
    await client.sandbox.execute({ code: "return 1;" });
    await client.sandbox.execute({ code: 'throw new Error("boom");' });
    await client.sandbox.execute({ code: "return gateway.models.nope({});" });
    await client.sandbox.execute({ code: "while (true) {}", limits: { wallTimeMs: 200 } });
    const after = await scrapeMetrics(gateway.url);
    const delta = (outcome: string) =>
      after.value("protogate_sandbox_executions_total", { outcome }) - before.value("protogate_sandbox_executions_total", { outcome });
    expect([delta("ok"), delta("error"), delta("diagnostics"), delta("wall_time")]).toEqual([1, 1, 1, 1]);
  });

  it("searches the SDK docs, also as a Connect GET", async () => {
    const response = await fetch(`${gateway.url}/protogate.v1.SandboxService/SearchDocs?encoding=json&message=${encodeURIComponent('{"query":"getModel","limit":3}')}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { entries: Array<{ path: string; kind: string; signature: string }> };
    expect(body.entries[0]).toMatchObject({
      path: "gateway.models.getModel",
      kind: "SANDBOX_DOCS_KIND_METHOD",
      signature: "gateway.models.getModel(request: GetModelRequest): Promise<GetModelResponse>",
    });
    const overview = await client.sandbox.searchDocs({ query: "" });
    expect(overview.entries.every((e) => e.kind === SandboxDocsKind.SERVICE || e.kind === SandboxDocsKind.METHOD)).toBe(true);
    expect(overview.entries.map((e) => e.path)).toEqual(expect.arrayContaining(["gateway.inference.chat", "gateway.models.listModels"]));
  });

  it("rejects code over the length limit with the field's rule", async () => {
    const error = await client.sandbox.check({ code: "x".repeat(100_001) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe("code: must be at most 100000 characters [string.max_len]");
  });

  it("writes one audit line per run: caller, code hash, SDK calls, outcome and duration", async () => {
    const named = createProtogateClient({
      baseUrl: gateway.url,
      interceptors: [
        (next) => (request) => {
          request.header.set("protogate-caller", "billing-agent");
          return next(request);
        },
      ],
    });
    const code = 'const { models } = await gateway.models.listModels({});\nreturn models.length;';
    const before = auditLines().length;
    await named.sandbox.execute({ code });
    await client.sandbox.execute({ code: "return nope;" });
    const [ok, diagnostics] = auditLines().slice(before);
    expect(ok).toMatchObject({
      level: "info",
      caller: "billing-agent",
      via: "rpc",
      code_sha256: createHash("sha256").update(code).digest("hex"),
      code_bytes: Buffer.byteLength(code),
      outcome: "ok",
      sdk_calls: [{ service: "models", method: "listModels", code: "ok", duration_ms: expect.any(Number) }],
      check_ms: expect.any(Number),
      run_ms: expect.any(Number),
      duration_ms: expect.any(Number),
    });
    expect(diagnostics).toMatchObject({ caller: "peer:127.0.0.1", outcome: "diagnostics", sdk_calls: [], run_ms: 0 });
    expect(JSON.stringify(auditLines())).not.toContain("listModels({})");
  });
});

describe("the sandbox's lifecycle", () => {
  let llama: OpenAiFake;
  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
  });
  afterAll(async () => {
    await llama.close();
  });

  it("is closed with the gateway: no sandbox process is left", async () => {
    const gateway = await startTestGateway({
      backends: [{ id: "llamacpp", kind: "openai", url: llama.url }],
      overrides: { sandbox: { ...embeddedSandboxSettings, prestart: true } },
    });
    const client = createProtogateClient({ baseUrl: gateway.url });
    expect((await client.sandbox.execute({ code: "return (await gateway.models.listModels({})).models.length;" })).returnJson).toBe("1");
    const pids = gateway.sandbox?.stats()?.pids ?? [];
    expect(pids).toHaveLength(embeddedSandboxSettings.poolSize);
    expect(pids.every(isAlive)).toBe(true);
    await gateway.close();
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it("can be turned off: SandboxService answers unimplemented and /mcp is not served", async () => {
    const gateway = await startTestGateway({
      backends: [{ id: "llamacpp", kind: "openai", url: llama.url }],
      overrides: { sandbox: { ...embeddedSandboxSettings, enabled: false } },
    });
    try {
      expect(gateway.sandbox).toBeUndefined();
      const client = createProtogateClient({ baseUrl: gateway.url });
      const error = await client.sandbox.check({ code: "return 1;" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect([(error as ConnectError).code, (error as ConnectError).rawMessage]).toEqual([
        Code.Unimplemented,
        "the code sandbox is turned off in this gateway's config",
      ]);
      expect((await fetch(`${gateway.url}/mcp`, { method: "POST", body: "{}" })).status).toBe(404);
    } finally {
      await gateway.close();
    }
  });
});
