import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelNotFoundDetailSchema } from "../../sdk/index.js";
import type { RunningGateway } from "../../server/gateway.js";
import { type BufCurlSchema, bufCurl, writeBufCurlSchema } from "../helpers/buf-curl.js";
import type { OllamaFake, OpenAiFake } from "../helpers/fake-upstream/index.js";
import { refusedUrl } from "../helpers/refused-url.js";
import { runProcess } from "../helpers/run-process.js";
import { type LlamaAndOllamaGateway, startLlamaAndOllamaGateway, startTestGateway } from "../helpers/start-test-gateway.js";

const toolArguments = String.raw`{"10":1,"2":1.0,"n":12345678901234567890,"s":"é😀\"\\n\u00e9\/"}`;
const chatBody = JSON.stringify({ model: "qwen.gguf", messages: [{ role: "ROLE_USER", content: "hi" }] });

/** Runs curl with a timeout; `-w` appends the status and HTTP version on a last line. */
async function curl(args: readonly string[]): Promise<{ status: number; httpVersion: string; body: string }> {
  const result = await runProcess("curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code} %{http_version}", ...args], { timeoutMs: 15_000 });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const split = result.stdout.lastIndexOf("\n");
  const [status, httpVersion] = result.stdout.slice(split + 1).split(" ");
  return { status: Number(status), httpVersion: httpVersion ?? "", body: result.stdout.slice(0, split) };
}

/** buf curl prints one pretty-printed JSON document per message; top-level braces start a line. */
function parseMessages(stdout: string): unknown[] {
  return stdout
    .trim()
    .split(/\n(?=\{)/)
    .map((text) => JSON.parse(text) as unknown);
}

describe("real clients: buf curl and curl", () => {
  let setup: LlamaAndOllamaGateway;
  let llama: OpenAiFake;
  let ollama: OllamaFake;
  let gateway: RunningGateway;
  let schema: BufCurlSchema;

  beforeAll(async () => {
    schema = writeBufCurlSchema();
    setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b", capabilities: ["completion", "tools"] }] });
    ({ llama, ollama, gateway } = setup);
  });

  afterAll(async () => {
    await setup.close();
    schema.remove();
  });

  const bufProtocols = [
    { protocol: "connect", flags: ["--protocol", "connect"] },
    { protocol: "grpc", flags: ["--protocol", "grpc", "--http2-prior-knowledge"] },
    { protocol: "grpcweb", flags: ["--protocol", "grpcweb"] },
  ] as const;

  describe.each(bufProtocols)("buf curl --protocol $protocol", ({ flags }) => {
    it("calls Chat and gets the tool call byte-identical", async () => {
      llama.enqueue({ kind: "reply", content: "Hello from buf", toolCalls: [{ id: "call_buf", name: "lookup", argumentsText: toolArguments }] });
      const result = await bufCurl(schema, [...flags, "-d", chatBody, `${gateway.url}/protogate.v1.InferenceService/Chat`]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const [response] = parseMessages(result.stdout);
      expect(response).toMatchObject({
        model: "qwen.gguf",
        backend: "llamacpp",
        message: {
          content: "Hello from buf",
          toolCalls: [{ id: "call_buf", name: "lookup", arguments: toolArguments, argumentsStatus: "ARGUMENTS_STATUS_VALID_JSON_OBJECT" }],
        },
        finishReason: "FINISH_REASON_TOOL_CALLS",
        rawFinishReason: "tool_calls",
        usage: { promptTokens: 10 },
      });
    });

    it("streams ChatStream events from start to end", async () => {
      llama.enqueue({ kind: "reply", content: "streamed text", toolCalls: [{ id: "call_s", name: "lookup", argumentsText: toolArguments }] });
      const result = await bufCurl(schema, [...flags, "-d", chatBody, `${gateway.url}/protogate.v1.InferenceService/ChatStream`]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const events = parseMessages(result.stdout) as Array<Record<string, { text?: string; argumentsFragment?: string; call?: unknown }>>;
      expect(Object.keys(events[0] ?? {})).toEqual(["start"]);
      expect(events[0]?.start).toMatchObject({ model: "qwen.gguf", backend: "llamacpp", backendModel: "qwen.gguf" });
      const text = events.flatMap((event) => (event.contentDelta === undefined ? [] : [event.contentDelta.text])).join("");
      expect(text).toBe("streamed text");
      const fragments = events.flatMap((event) => (event.toolCallDelta === undefined ? [] : [event.toolCallDelta.argumentsFragment ?? ""]));
      expect(fragments.join("")).toBe(toolArguments);
      expect(events.filter((event) => event.toolCall !== undefined).map((event) => event.toolCall?.call)).toEqual([
        { id: "call_s", name: "lookup", arguments: toolArguments, argumentsStatus: "ARGUMENTS_STATUS_VALID_JSON_OBJECT" },
      ]);
      expect(events.at(-1)?.end).toMatchObject({ finishReason: "FINISH_REASON_TOOL_CALLS", rawFinishReason: "tool_calls" });
    });

    it("lists the models of every backend", async () => {
      const result = await bufCurl(schema, [...flags, "-d", "{}", `${gateway.url}/protogate.v1.ModelService/ListModels`]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const [response] = parseMessages(result.stdout) as Array<{ models: Array<Record<string, unknown>> }>;
      expect(response?.models.map((model) => [model.id, model.backend, model.backendKind, model.state])).toEqual([
        ["qwen.gguf", "llamacpp", "openai", "MODEL_STATE_LOADED"],
        ["llama3.2:1b", "ollama", "ollama", "MODEL_STATE_AVAILABLE"],
      ]);
    });
  });

  it("answers buf curl with not_found and the detail for an unknown model", async () => {
    const body = JSON.stringify({ model: "missing", messages: [{ role: "ROLE_USER", content: "hi" }] });
    const result = await bufCurl(schema, ["--protocol", "grpc", "--http2-prior-knowledge", "-d", body, `${gateway.url}/protogate.v1.InferenceService/Chat`]);
    expect(result.code).not.toBe(0);
    const error = JSON.parse(result.stderr) as { code: string; message: string; details: Array<{ type: string; value: string }> };
    expect(error.code).toBe("not_found");
    expect(error.message).toBe('model "missing" not found; available: qwen.gguf, llama3.2:1b');
    expect(error.details.map((detail) => detail.type)).toEqual(["protogate.v1.ModelNotFoundDetail"]);
    const detail = fromBinary(ModelNotFoundDetailSchema, Buffer.from(error.details[0]?.value ?? "", "base64"));
    expect({ requested: detail.requested, available: detail.available }).toEqual({ requested: "missing", available: ["qwen.gguf", "llama3.2:1b"] });
  });

  it("answers curl POST JSON to Chat over HTTP/1.1", async () => {
    llama.enqueue({ kind: "reply", content: "Hello curl", toolCalls: [{ id: "call_c", name: "lookup", argumentsText: toolArguments }] });
    const response = await curl(["-H", "content-type: application/json", "-d", chatBody, `${gateway.url}/protogate.v1.InferenceService/Chat`]);
    expect([response.status, response.httpVersion]).toEqual([200, "1.1"]);
    expect(JSON.parse(response.body)).toMatchObject({
      message: { content: "Hello curl", toolCalls: [{ id: "call_c", name: "lookup", arguments: toolArguments }] },
      finishReason: "FINISH_REASON_TOOL_CALLS",
    });
  });

  it("answers curl --http2-prior-knowledge POST JSON over h2c", async () => {
    const response = await curl(["--http2-prior-knowledge", "-H", "content-type: application/json", "-d", chatBody, `${gateway.url}/protogate.v1.InferenceService/Chat`]);
    expect([response.status, response.httpVersion]).toEqual([200, "2"]);
    expect(JSON.parse(response.body)).toMatchObject({ message: { content: "Hello from fake" }, finishReason: "FINISH_REASON_STOP", rawFinishReason: "stop" });
  });

  it("serves ListModels as a Connect GET request", async () => {
    const response = await curl([`${gateway.url}/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%7D`]);
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body) as { models: Array<{ id: string }> };
    expect(body.models.map((model) => model.id)).toEqual(["qwen.gguf", "llama3.2:1b"]);
  });

  it("serves GetModel as a Connect GET request, over HTTP/1.1 and h2c", async () => {
    const message = encodeURIComponent(JSON.stringify({ model: "llamacpp/qwen.gguf" }));
    for (const [flags, httpVersion] of [[[], "1.1"], [["--http2-prior-knowledge"], "2"]] as const) {
      const response = await curl([...flags, `${gateway.url}/protogate.v1.ModelService/GetModel?encoding=json&message=${message}`]);
      expect([response.status, response.httpVersion]).toEqual([200, httpVersion]);
      expect(JSON.parse(response.body)).toEqual({
        model: {
          id: "qwen.gguf",
          backend: "llamacpp",
          backendKind: "openai",
          backendModel: "qwen.gguf",
          state: "MODEL_STATE_LOADED",
          capabilities: {},
          contextLength: 4096,
          sizeBytes: expect.stringMatching(/^\d+$/),
        },
      });
    }
  });

  it("answers a Connect GET for an unknown model with 404 not_found", async () => {
    const message = encodeURIComponent(JSON.stringify({ model: "missing" }));
    const response = await curl([`${gateway.url}/protogate.v1.ModelService/GetModel?encoding=json&message=${message}`]);
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ code: "not_found", message: 'model "missing" not found; available: qwen.gguf, llama3.2:1b' });
  });

  it("answers /healthz and /readyz with JSON, per backend", async () => {
    const health = await curl([`${gateway.url}/healthz`]);
    expect([health.status, JSON.parse(health.body)]).toEqual([200, { status: "ok" }]);
    const ready = await curl([`${gateway.url}/readyz`]);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({
      ready: true,
      draining: false,
      backends: [
        { id: "llamacpp", kind: "openai", url: llama.url, reachable: true, ready: true, models: 1, detail: "llama.cpp ready", checked_at: expect.any(String), circuit: "closed" },
        { id: "ollama", kind: "ollama", url: ollama.url, reachable: true, ready: true, models: 1, detail: "1 model(s), 0 loaded", checked_at: expect.any(String), circuit: "closed" },
      ],
    });
  });

  it("answers /readyz with 503 when no backend is ready, over both HTTP versions", async () => {
    const downUrl = await refusedUrl();
    const lonely = await startTestGateway({ backends: [{ id: "down", kind: "openai", url: downUrl }] });
    try {
      for (const flags of [[], ["--http2-prior-knowledge"]]) {
        const ready = await curl([...flags, `${lonely.url}/readyz`]);
        expect(ready.status).toBe(503);
        expect(JSON.parse(ready.body)).toEqual({
          ready: false,
          draining: false,
          backends: [
            {
              id: "down",
              kind: "openai",
              url: downUrl,
              reachable: false,
              ready: false,
              models: 0,
              detail: 'backend "down" is unreachable (connection refused)',
              checked_at: expect.any(String),
              circuit: "closed",
            },
          ],
        });
        const health = await curl([...flags, `${lonely.url}/healthz`]);
        expect(health.status).toBe(200);
      }
    } finally {
      await lonely.close();
    }
  });
});
