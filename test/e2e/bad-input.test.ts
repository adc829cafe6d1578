import { type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { type Violation, ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { ChatRequestSchema as ChatRequestSchemaValue } from "../../gen/protogate/v1/inference_service_pb.js";
import type { RunningGateway } from "../../server/gateway.js";
import {
  type ChatRequestSchema,
  Code,
  ConnectError,
  createProtogateClient,
  ModelNotFoundDetailSchema,
  type ProtogateClient,
  Role,
} from "../../sdk/index.js";
import { connectErrorOf } from "../helpers/async-outcomes.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { postGrpcRaw, sendRaw } from "../helpers/raw-http.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const maxRequestBytes = 64 * 1024;
const maxTimeoutMs = 30_000;
const chatPath = "/protogate.v1.InferenceService/Chat";
const user = { role: Role.USER, content: "hi" };

describe("bad input gets a precise error and the gateway keeps serving", () => {
  let fake: OpenAiFake;
  let gateway: RunningGateway;
  let client: ProtogateClient;
  let grpc: ProtogateClient;
  let chatRequestsBefore = 0;

  const chatRequests = () => fake.requests.filter((request) => request.path === "/v1/chat/completions").length;

  beforeAll(async () => {
    fake = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    gateway = await startTestGateway({
      backends: [{ id: "llamacpp", kind: "openai", url: fake.url }],
      overrides: { maxRequestBytes, maxTimeoutMs },
    });
    client = createProtogateClient({ baseUrl: gateway.url });
    grpc = createProtogateClient({ baseUrl: gateway.url, protocol: "grpc" });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => {
    chatRequestsBefore = chatRequests();
  });

  afterEach(async () => {
    // Nothing bad reached the backend, and a good request still works, over Connect and gRPC.
    expect(chatRequests()).toBe(chatRequestsBefore);
    for (const good of [client, grpc]) {
      const response = await good.inference.chat({ model: "qwen.gguf", messages: [user] });
      expect(response.message?.content).toBe("Hello from fake");
    }
  });

  /** Calls Chat through the SDK (Connect JSON) and returns the ConnectError it must fail with. */
  function chatError(request: MessageInitShape<typeof ChatRequestSchema>, timeoutMs?: number): Promise<ConnectError> {
    return connectErrorOf(client.inference.chat(request, timeoutMs === undefined ? {} : { timeoutMs }));
  }

  /** POSTs a raw JSON body with the Connect protocol and returns the status and the error JSON. */
  async function postJson(body: string): Promise<{ status: number; error: { code: string; message: string } }> {
    const response = await fetch(`${gateway.url}${chatPath}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, error: (await response.json()) as { code: string; message: string } };
  }

  it("rejects an unknown JSON field, naming the key", async () => {
    const body = JSON.stringify({ model: "qwen.gguf", messages: [{ role: "ROLE_USER", content: "hi" }], temprature: 0.5 });
    expect(await postJson(body)).toEqual({
      status: 400,
      error: { code: "invalid_argument", message: 'cannot decode message protogate.v1.ChatRequest from JSON: key "temprature" is unknown' },
    });
  });

  it("rejects a string where messages must be a list", async () => {
    expect(await postJson(JSON.stringify({ model: "qwen.gguf", messages: "hi" }))).toEqual({
      status: 400,
      error: { code: "invalid_argument", message: 'cannot decode field protogate.v1.ChatRequest.messages from JSON: expected Array, got "hi"' },
    });
  });

  it("rejects a malformed JSON body", async () => {
    expect(await postJson('{"model":"qwen.gguf","messages":[')).toEqual({
      status: 400,
      error: { code: "invalid_argument", message: "cannot decode message protogate.v1.ChatRequest from JSON: Unexpected end of JSON input" },
    });
  });

  describe("a JSON message that is not UTF-8 is invalid_argument, never silently repaired", () => {
    // "hi" followed by 0xC3 0x28: a two-byte lead whose second byte is not a continuation.
    const prefix = Buffer.from('{"model":"qwen.gguf","messages":[{"role":"ROLE_USER","content":"hi');
    const message = Buffer.concat([prefix, Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    const expected = { code: "invalid_argument", message: `the JSON request message is not valid UTF-8: its first bad byte is at offset ${prefix.length}` };

    it("over Connect unary POST", async () => {
      const response = await fetch(`${gateway.url}${chatPath}`, { method: "POST", headers: { "content-type": "application/json" }, body: message });
      expect([response.status, await response.json()]).toEqual([400, expected]);
    });

    it("over Connect streaming and gRPC-Web with the JSON codec", async () => {
      const envelope = encodeEnvelope(0, message);
      const stream = await fetch(`${gateway.url}/protogate.v1.InferenceService/ChatStream`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: envelope,
      });
      const streamBody = Buffer.from(await stream.arrayBuffer());
      expect(JSON.parse(streamBody.subarray(5).toString("utf8"))).toEqual({ error: expected });
      const grpcWeb = await fetch(`${gateway.url}${chatPath}`, { method: "POST", headers: { "content-type": "application/grpc-web+json" }, body: envelope });
      const trailer = Buffer.from(await grpcWeb.arrayBuffer()).subarray(5).toString("utf8");
      expect(trailer).toContain(`grpc-status: ${Code.InvalidArgument}\r\n`);
      expect(trailer).toContain(`grpc-message: ${encodeURIComponent(expected.message)}\r\n`);
    });

    it("over Connect GET, percent-encoded or base64", async () => {
      const getModel = `${gateway.url}/protogate.v1.ModelService/GetModel?encoding=json`;
      const before = Buffer.from('{"model":"q');
      const bad = Buffer.concat([before, Buffer.from([0xff]), Buffer.from('"}')]);
      const percentEncoded = [...bad].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
      const percent = await fetch(`${getModel}&message=${percentEncoded}`);
      expect([percent.status, await percent.json()]).toEqual([
        400,
        { code: "invalid_argument", message: `the message query parameter is not valid UTF-8 once percent-decoded: its first bad byte is at offset ${before.length}` },
      ]);
      const base64 = await fetch(`${getModel}&base64=1&message=${bad.toString("base64url")}`);
      expect([base64.status, await base64.json()]).toEqual([
        400,
        { code: "invalid_argument", message: `the JSON request message is not valid UTF-8: its first bad byte is at offset ${before.length}` },
      ]);
      // Well-formed multi-byte text still arrives intact: "é" is looked up, and not found.
      const accented = await fetch(`${getModel}&message=${encodeURIComponent('{"model":"é"}')}`);
      expect([accented.status, ((await accented.json()) as { code: string }).code]).toEqual([404, "not_found"]);
    });
  });

  it("rejects empty messages with a buf.validate.Violations detail", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [] });
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, "messages: must contain at least 1 item(s) [repeated.min_items]"]);
    expect(violations(error)).toEqual([{ field: "messages", ruleId: "repeated.min_items", message: "must contain at least 1 item(s)" }]);
  });

  it("rejects a tool message without tool_call_id", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [user, { role: Role.TOOL, content: "42" }] });
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, "messages[1]: a tool message needs tool_call_id [message.tool_call_id]"]);
    expect(violations(error)).toEqual([{ field: "messages[1]", ruleId: "message.tool_call_id", message: "a tool message needs tool_call_id" }]);
  });

  it("refuses a list over its max_items after checking it only as far as the limit", async () => {
    // Over gRPC (binary, a few bytes a message) to stay under this gateway's 64 KiB request limit.
    const orphan = { role: Role.TOOL, content: "42" };
    const messages = Array.from({ length: 6000 }, (_, index) => (index === 1 || index === 5000 ? orphan : user));
    const error = await connectErrorOf(grpc.inference.chat({ model: "qwen.gguf", messages }));
    expect(error.code).toBe(Code.InvalidArgument);
    // Message 5000 lies past the limit (4096) and is never looked at: the cost of refusing stays that of the largest allowed request.
    expect(violations(error).map(({ field, ruleId }) => ({ field, ruleId }))).toEqual([
      { field: "messages", ruleId: "repeated.max_items" },
      { field: "messages[1]", ruleId: "message.tool_call_id" },
    ]);
  });

  it("quotes a client's long text back only in part: an unknown JSON key, an unknown backend option", async () => {
    const key = "k".repeat(50_000);
    const quoted = /^cannot decode message protogate\.v1\.(ChatRequest|GetModelRequest) from JSON: key "k+… \(\d+ more characters\)$/;
    // An unknown JSON key: connect's own refusal, on the fast path (POST) and through the adapter (Connect GET, in a URL's room).
    const post = await sendRaw(gateway.url, {
      path: chatPath,
      headers: { "content-type": "application/json" },
      body: `{"model":"qwen.gguf","messages":[{"role":"ROLE_USER","content":"hi"}],"${key}":1}`,
    });
    const get = await sendRaw(gateway.url, {
      method: "GET",
      path: `/protogate.v1.ModelService/GetModel?encoding=json&message=${encodeURIComponent(`{"${key.slice(0, 8000)}":1}`)}`,
    });
    for (const answer of [post, get]) {
      const error = JSON.parse(answer.body.toString("utf8")) as { code: string; message: string };
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(quoted);
      expect(error.message.indexOf("…")).toBe(1024);
    }
    // An unknown backend option: the gateway's own check quotes 64 characters of the key, in the message and the field path.
    const error = await chatError({ model: "qwen.gguf", messages: [user], backendOptions: { openai: { [key]: true } } });
    const shown = `${"k".repeat(64)}… (${50_000 - 64} more characters)`;
    expect(error.rawMessage).toMatch(new RegExp(`^backend_options\\.openai\\.${shown.replace(/[()]/g, "\\$&")}: unknown option "${shown.replace(/[()]/g, "\\$&")}"; allowed: `));
    expect(error.rawMessage.length).toBeLessThan(2000);
  });

  it("rejects temperature 3", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [user], sampling: { temperature: 3 } });
    const message = "must be greater than or equal to 0 and less than or equal to 2";
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, `sampling.temperature: ${message} [double.gte_lte]`]);
    expect(violations(error)).toEqual([{ field: "sampling.temperature", ruleId: "double.gte_lte", message }]);
  });

  it("answers an unknown model with not_found and the ids that exist", async () => {
    const error = await chatError({ model: "qwen-typo", messages: [user] });
    expect([error.code, error.rawMessage]).toEqual([Code.NotFound, 'model "qwen-typo" not found; available: qwen.gguf']);
    const details = error.findDetails(ModelNotFoundDetailSchema);
    expect(details.map((detail) => ({ requested: detail.requested, available: detail.available }))).toEqual([
      { requested: "qwen-typo", available: ["qwen.gguf"] },
    ]);
  });

  it("rejects a body over maxRequestBytes with resource_exhausted, over Connect and gRPC", async () => {
    const request = { model: "qwen.gguf", messages: [{ role: Role.USER, content: "x".repeat(maxRequestBytes) }] };
    // The size is in the message when the server knows it before reading the body.
    const tooLarge = new RegExp(`^message size (\\d+ )?is larger than configured readMaxBytes ${maxRequestBytes}$`);
    const connectError = await chatError(request);
    expect(connectError.code).toBe(Code.ResourceExhausted);
    expect(connectError.rawMessage).toMatch(tooLarge);
    const grpcError = await connectErrorOf(grpc.inference.chat(request));
    expect(grpcError.code).toBe(Code.ResourceExhausted);
    expect(grpcError.rawMessage).toMatch(tooLarge);
  });

  it("refuses a compression bomb at maxRequestBytes after decompression, over Connect (gzip, brotli) and gRPC", async () => {
    // 16 MiB of one letter in a valid Chat: a few kilobytes compressed, 256 times the limit unpacked.
    const unpacked = Buffer.from(`{"model":"qwen.gguf","messages":[{"role":"ROLE_USER","content":"${"a".repeat(16 * 1024 * 1024)}"}]}`);
    const afterDecompression = `message is larger than configured readMaxBytes ${maxRequestBytes} after decompression`;
    for (const [encoding, body] of [["gzip", gzipSync(unpacked, { level: 9 })], ["br", brotliCompressSync(unpacked)]] as const) {
      expect(body.length).toBeLessThan(maxRequestBytes);
      const answer = await sendRaw(gateway.url, { path: chatPath, headers: { "content-type": "application/json", "content-encoding": encoding }, body });
      expect([encoding, answer.status, JSON.parse(answer.body.toString("utf8"))]).toEqual([encoding, 429, { code: "resource_exhausted", message: afterDecompression }]);
    }
    const binary = Buffer.from(toBinary(ChatRequestSchemaValue, create(ChatRequestSchemaValue, { model: "qwen.gguf", messages: [{ ...user, content: "a".repeat(16 * 1024 * 1024) }] })));
    const grpcAnswer = await postGrpcRaw(gateway.url, chatPath, Buffer.from(encodeEnvelope(1, gzipSync(binary, { level: 9 }))), { "grpc-encoding": "gzip" });
    expect([grpcAnswer.grpcStatus, grpcAnswer.grpcMessage]).toEqual([String(Code.ResourceExhausted), afterDecompression]);
  });

  it("refuses values nested deeper than 100 levels (backend options are free-form Struct values), in JSON and binary", async () => {
    const depth = 30_000; // 60 KB, within the 64 KiB limit of this gateway
    const deepJson = `{"model":"qwen.gguf","messages":[{"role":"ROLE_USER","content":"hi"}],"backendOptions":{"openai":{"x":${"[".repeat(depth)}${"]".repeat(depth)}}}}`;
    const jsonAnswer = await sendRaw(gateway.url, { path: chatPath, headers: { "content-type": "application/json" }, body: deepJson });
    expect([jsonAnswer.status, JSON.parse(jsonAnswer.body.toString("utf8"))]).toEqual([
      400,
      { code: "invalid_argument", message: "cannot decode google.protobuf.Value from JSON: maximum recursion depth of 100 reached" },
    ]);
    // The same in binary: Value.list_value → ListValue.values → Value …, 5 000 levels.
    const field = (number: number, bytes: Uint8Array) => Buffer.concat([Buffer.from([(number << 3) | 2]), varint(bytes.length), bytes]);
    let value: Uint8Array = new Uint8Array(0);
    for (let level = 0; level < 5000; level++) value = field(6, field(1, value));
    const options = field(2, field(1, Buffer.concat([field(1, Buffer.from("x")), field(2, value)]))); // BackendOptions.openai = Struct{fields: {x: value}}
    const request = Buffer.concat([Buffer.from(toBinary(ChatRequestSchemaValue, create(ChatRequestSchemaValue, { model: "qwen.gguf", messages: [user] }))), field(9, options)]);
    const binaryAnswer = await sendRaw(gateway.url, { path: chatPath, headers: { "content-type": "application/proto" }, body: request });
    expect([binaryAnswer.status, JSON.parse(binaryAnswer.body.toString("utf8")).code]).toEqual([400, "invalid_argument"]);
    expect(JSON.parse(binaryAnswer.body.toString("utf8")).message).toContain("maximum recursion depth of 100 reached");
  });

  it("rejects tool parameters that are not JSON, naming the field", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [user], tools: [{ name: "search", parametersJson: "{type: object}" }] });
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^tools\[0\]\.parameters_json: must be a JSON Schema object; the text is not valid JSON \(.+\)$/);
    expect(violations(error).map(({ field, ruleId }) => ({ field, ruleId }))).toEqual([{ field: "tools[0].parameters_json", ruleId: "tool.parameters_json" }]);
  });

  it("rejects a response schema that is not a JSON object, naming the field", async () => {
    for (const schemaJson of ['["not", "an", "object"]', '{"type": "object",}']) {
      const error = await chatError({
        model: "qwen.gguf",
        messages: [user],
        responseFormat: { format: { case: "jsonSchema", value: { name: "answer", schemaJson } } },
      });
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/^response_format\.json_schema\.schema_json: must be a JSON Schema object/);
      expect(violations(error).map(({ field, ruleId }) => ({ field, ruleId }))).toEqual([
        { field: "response_format.json_schema.schema_json", ruleId: "response_format.schema_json" },
      ]);
    }
  });

  it("rejects a tool_choice that names a tool the request does not have", async () => {
    const error = await chatError({
      model: "qwen.gguf",
      messages: [user],
      tools: [{ name: "search", parametersJson: '{"type":"object"}' }],
      toolChoice: { choice: { case: "function", value: "browse" } },
    });
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, `tool_choice.function: "browse" is not one of the request's tools`]);
    expect(violations(error)).toEqual([{ field: "tool_choice.function", ruleId: "tool_choice.function_known", message: `"browse" is not one of the request's tools` }]);
  });

  it("rejects an unknown backend option key, listing the allowed ones", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [user], backendOptions: { openai: { cache_prompts: true } } });
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^backend_options\.openai\.cache_prompts: unknown option "cache_prompts"; allowed: .*\bcache_prompt\b/);
    expect(violations(error).map(({ field, ruleId }) => ({ field, ruleId }))).toEqual([
      { field: "backend_options.openai.cache_prompts", ruleId: "backend_options.unknown_key" },
    ]);
  });

  it("rejects a client timeout above maxTimeoutMs, over Connect and gRPC", async () => {
    const error = await chatError({ model: "qwen.gguf", messages: [user] }, maxTimeoutMs * 2);
    expect([error.code, error.rawMessage]).toEqual([Code.InvalidArgument, `timeout ${maxTimeoutMs * 2}ms must be <= ${maxTimeoutMs}`]);
    const grpcError = await connectErrorOf(grpc.inference.chat({ model: "qwen.gguf", messages: [user] }, { timeoutMs: maxTimeoutMs * 2 }));
    expect([grpcError.code, grpcError.rawMessage]).toEqual([Code.InvalidArgument, `timeout ${maxTimeoutMs * 2}ms must be <= ${maxTimeoutMs}`]);
  });

  it("answers binary that is not protobuf with invalid_argument over Connect (both paths), Connect GET and gRPC-Web", async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const connectError = async (response: Response) => [response.status, ((await response.json()) as { code: string }).code];
    const proto = { "content-type": "application/proto" };
    // Plain on the fast path; gzip-compressed through connect-node's adapter.
    expect(await connectError(await fetch(`${gateway.url}${chatPath}`, { method: "POST", headers: proto, body: garbage }))).toEqual([400, "invalid_argument"]);
    const gzipped = await fetch(`${gateway.url}${chatPath}`, { method: "POST", headers: { ...proto, "content-encoding": "gzip" }, body: gzipSync(garbage) });
    expect(await connectError(gzipped)).toEqual([400, "invalid_argument"]);
    const get = await fetch(`${gateway.url}/protogate.v1.ModelService/GetModel?encoding=proto&base64=1&message=${garbage.toString("base64url")}`);
    expect(await connectError(get)).toEqual([400, "invalid_argument"]);
    const grpcWeb = await fetch(`${gateway.url}${chatPath}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: encodeEnvelope(0, garbage),
    });
    const trailer = Buffer.from(await grpcWeb.arrayBuffer());
    expect(trailer[0]).toBe(0x80);
    const trailerText = trailer.subarray(5).toString("utf8");
    expect(trailerText).toContain(`grpc-status: ${Code.InvalidArgument}\r\n`);
    expect(trailerText).toContain("grpc-message: parse%20binary");
  });

  describe("raw gRPC over h2c", () => {
    it("answers garbage bytes with an error status", async () => {
      // Read as an envelope, "not a…" is flags 0x6e and a length of 0x6f742061 bytes.
      const answer = await postGrpcRaw(gateway.url, chatPath, Buffer.from("not a gRPC message at all"));
      expect(answer).toEqual({
        httpStatus: 200,
        grpcStatus: String(Code.ResourceExhausted),
        grpcMessage: `message size ${0x6f742061} is larger than configured readMaxBytes ${maxRequestBytes}`,
      });
    });

    it("answers a frame whose length is longer than the body with invalid_argument", async () => {
      const header = Buffer.from([0, 0, 0, 0x03, 0xe8]); // uncompressed, 1000 bytes follow…
      const answer = await postGrpcRaw(gateway.url, chatPath, Buffer.concat([header, Buffer.from([0x0a, 0x01, 0x78])])); // …but 3 do
      expect(answer).toEqual({ httpStatus: 200, grpcStatus: String(Code.InvalidArgument), grpcMessage: "protocol error: incomplete envelope" });
    });

    it("answers a well-framed message that is not protobuf with invalid_argument", async () => {
      const payload = Buffer.from([0xff, 0xff, 0xff, 0xff]);
      const answer = await postGrpcRaw(gateway.url, chatPath, Buffer.from(encodeEnvelope(0, payload)));
      // connect-es says internal here (as grpc-go does); the gateway says what connect-go says: the client's fault.
      expect(answer.httpStatus).toBe(200);
      expect(answer.grpcStatus).toBe(String(Code.InvalidArgument));
      expect(answer.grpcMessage).toMatch(/^parse binary: /);
    });
  });
});

/** Each violation of a `buf.validate.Violations` detail, with its field path as text. */
function violations(error: ConnectError): Array<{ field: string; ruleId: string; message: string }> {
  return error.findDetails(ViolationsSchema).flatMap((detail) =>
    detail.violations.map((violation: Violation) => ({
      field: (violation.field?.elements ?? [])
        .map((element) => {
          const subscript = element.subscript;
          if (subscript.case === "index") return `${element.fieldName}[${subscript.value}]`;
          if (subscript.case === "stringKey") return `${element.fieldName}["${subscript.value}"]`;
          return element.fieldName;
        })
        .join("."),
      ruleId: violation.ruleId,
      message: violation.message,
    })),
  );
}

/** A protobuf varint. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 127) {
    bytes.push((rest & 127) | 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
