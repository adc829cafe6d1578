import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedSandboxSettings } from "../../server/config/sandbox-settings.js";
import type { RunningGateway } from "../../server/gateway.js";
import { createLogger } from "../../server/log/logger.js";
import { createOllamaFake, DEFAULT_CONTENT, type OllamaFake } from "../helpers/fake-upstream/index.js";
import { runProcess } from "../helpers/run-process.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

/** The text of a tool result, and whether it is flagged as an error. */
interface ToolText {
  readonly text: string;
  readonly isError: boolean;
}

describe("the sandbox's MCP endpoint with a real MCP client", () => {
  let ollama: OllamaFake;
  let gateway: RunningGateway;
  let client: Client;
  const logLines: Array<Record<string, unknown>> = [];
  const chats = () => ollama.requests.filter((request) => request.path === "/api/chat").length;

  async function callTool(name: string, args: Record<string, unknown>): Promise<ToolText> {
    const result = await client.callTool({ name, arguments: args });
    const content = result.content as Array<{ type: string; text?: string }>;
    expect(content.map((c) => c.type)).toEqual(["text"]);
    return { text: content[0]?.text ?? "", isError: result.isError === true };
  }

  beforeAll(async () => {
    ollama = await createOllamaFake({ models: [{ name: "qwen3:0.6b", capabilities: ["completion", "tools"] }] });
    gateway = await startTestGateway({
      backends: [{ id: "ollama", kind: "ollama", url: ollama.url }],
      overrides: { sandbox: { ...embeddedSandboxSettings, limits: { ...embeddedSandboxSettings.limits, wallTimeMs: 1000 } } },
      log: createLogger({ write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    client = new Client({ name: "e2e-agent", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { "protogate-caller": "e2e-agent" } } }),
    );
  });

  afterAll(async () => {
    await client.close();
    await gateway.close();
    await ollama.close();
  });

  it("lists three tools whose descriptions teach the workflow", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(["search_sdk_docs", "check_typescript", "execute_typescript"]);
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    for (const name of ["check_typescript", "execute_typescript"]) {
      const tool = byName.get(name);
      expect(tool?.inputSchema).toMatchObject({ type: "object", required: ["code"], properties: { code: { type: "string", maxLength: 100000 } } });
      expect(tool?.description).toContain("Write the BODY of an async function");
      expect(tool?.description).toContain("`await gateway.<service>.<method>({ ... })`");
    }
    expect(byName.get("check_typescript")?.description).toContain("then run the same code with execute_typescript");
    expect(byName.get("execute_typescript")?.description).toContain("- gateway.models: listModels, getModel");
    expect(byName.get("search_sdk_docs")?.description).toContain("leave it empty for an overview");
    expect(client.getInstructions()).toContain("Workflow: 1) search_sdk_docs");
    expect(client.getServerVersion()?.name).toBe("protogate-sandbox");
  });

  it("runs search → check → fix → execute end to end", async () => {
    const before = chats();
    const docs = await callTool("search_sdk_docs", { query: "gateway.inference.chat", limit: 2 });
    expect(docs.text.split("\n").slice(0, 2)).toEqual([
      "gateway.inference.chat (method)",
      "  gateway.inference.chat(request: ChatRequest): Promise<ChatResponse>",
    ]);

    const draft = 'const answer = await gateway.inference.chat({ model: "qwen3:0.6b", mesages: [{ role: "ROLE_USER", content: "hi" }] });\nreturn answer.message?.content;';
    const checked = await callTool("check_typescript", { code: draft });
    expect(checked.isError).toBe(true);
    expect(checked.text).toContain("1. line 1, column 68 — TS2561:");
    expect(checked.text).toContain("   `mesages` is not a field of ChatRequest. Did you mean `messages`?");
    const ranDraft = await callTool("execute_typescript", { code: draft });
    expect(ranDraft.isError).toBe(true);
    expect(ranDraft.text).toMatch(/^The code does not type-check \(1 problem\); nothing ran\./);

    const fixed = draft.replace("mesages", "messages");
    expect(await callTool("check_typescript", { code: fixed })).toEqual({
      text: expect.stringMatching(/^OK: the code type-checks \([\d.]+ ms\)\. Run it with execute_typescript\.$/),
      isError: false,
    });
    const ran = await callTool("execute_typescript", { code: fixed });
    expect(ran.isError).toBe(false);
    expect(ran.text).toMatch(new RegExp(`^Returned \\(JSON\\):\\n"${DEFAULT_CONTENT}"\\n\\nSDK calls:\\n- gateway\\.inference\\.chat → ok \\([\\d.]+ ms\\)$`));
    expect(chats()).toBe(before + 1);
  });

  it("flags errors and limits, and keeps console output", async () => {
    const thrown = await callTool("execute_typescript", { code: 'console.warn("about to fail");\nthrow new Error("nope");' });
    expect(thrown.isError).toBe(true);
    expect(thrown.text).toMatch(/^The code threw Error: nope\nError: nope\n {4}at .*agent\.ts:2:\d+.*\n\nConsole:\n\[warn\] about to fail$/);
    const looping = await callTool("execute_typescript", { code: "for (;;) {}" });
    expect(looping.isError).toBe(true);
    expect(looping.text).toMatch(/^The sandbox stopped the code: wall-time limit — .*1000 ms/);
  });

  it("logs each run with the MCP caller", async () => {
    await callTool("execute_typescript", { code: "return 1;" });
    expect(logLines.filter((line) => line["msg"] === "sandbox run").at(-1)).toMatchObject({ caller: "mcp:e2e-agent", via: "mcp", outcome: "ok" });
  });

  it("answers over h2c too (curl --http2-prior-knowledge, no initialize needed)", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_typescript", arguments: { code: "return 6 * 7;" } } });
    const result = await runProcess(
      "curl",
      ["-sS", "--http2-prior-knowledge", "-X", "POST", `${gateway.url}/mcp`, "-H", "content-type: application/json", "-H", "accept: application/json, text/event-stream", "-d", body],
      { timeoutMs: 20_000 },
    );
    expect(JSON.parse(result.stdout)).toEqual({ jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text: "Returned (JSON):\n42" }] } });
  });

  it("is stateless: GET is refused with 405", async () => {
    const response = await fetch(`${gateway.url}/mcp`, { headers: { accept: "text/event-stream" } });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});
