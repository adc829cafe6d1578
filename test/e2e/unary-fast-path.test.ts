import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { createRandom, randomJsonText } from "../helpers/random-json.js";
import { type RawHttpRequest, type RawHttpResponse, sendRaw } from "../helpers/raw-http.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const maxRequestBytes = 16 * 1024;
const json = { "content-type": "application/json" };
const chat = "/protogate.v1.InferenceService/Chat";
const listModels = "/protogate.v1.ModelService/ListModels";
const healthCheck = "/grpc.health.v1.Health/Check";
const goodChat = JSON.stringify({ model: "qwen.gguf", messages: [{ role: "ROLE_USER", content: "hi" }] });

/**
 * The unary fast path must answer exactly as connect-node's adapter does:
 * the same requests go to a gateway with the fast path and to one without,
 * and status, headers and body bytes must match (minus the Date header,
 * the request id each answer carries, and for a successful Chat, the id
 * and timings the gateway measures).
 */
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("the unary fast path answers exactly like connect-node's adapter", () => {
  let fake: OpenAiFake;
  let fast: RunningGateway;
  let adapter: RunningGateway;

  beforeAll(async () => {
    fake = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    const backends = [{ id: "llamacpp", kind: "openai" as const, url: fake.url }];
    fast = await startTestGateway({ backends, overrides: { maxRequestBytes, maxTimeoutMs: 30_000 } });
    adapter = await startTestGateway({ backends, overrides: { maxRequestBytes, maxTimeoutMs: 30_000, unaryFastPath: false } });
  });

  afterAll(async () => {
    await fast.close();
    await adapter.close();
    await fake.close();
  });

  /** Sends the request to both gateways and returns both answers, Date header removed and a request id (unique per answer) as "<uuid>". */
  async function both(request: RawHttpRequest): Promise<[RawHttpResponse, RawHttpResponse]> {
    const comparable = ({ headers: { date: _date, ...headers }, ...rest }: RawHttpResponse) => {
      const id = headers["protogate-request-id"];
      return { ...rest, headers: { ...headers, "protogate-request-id": typeof id === "string" && uuid.test(id) ? "<uuid>" : id } };
    };
    return [comparable(await sendRaw(fast.url, request)), comparable(await sendRaw(adapter.url, request))];
  }

  const identical: Array<[string, RawHttpRequest, number]> = [
    ["ListModels, JSON", { path: listModels, headers: json, body: "{}" }, 200],
    ["ListModels, JSON with charset and protocol version", { path: listModels, headers: { "content-type": "application/json; charset=utf-8", "connect-protocol-version": "1" }, body: "{}" }, 200],
    ["ListModels, binary", { path: listModels, headers: { "content-type": "application/proto" }, body: Buffer.alloc(0) }, 200],
    ["Health/Check", { path: healthCheck, headers: json, body: "{}" }, 200],
    ["Health/Check of an unknown service", { path: healthCheck, headers: json, body: '{"service":"nope"}' }, 404],
    ["an unknown JSON field", { path: chat, headers: json, body: '{"model":"qwen.gguf","temprature":1}' }, 400],
    ["malformed JSON", { path: chat, headers: json, body: '{"model":' }, 400],
    ["an empty body", { path: chat, headers: json, body: "" }, 400],
    ["JSON that is not UTF-8", { path: chat, headers: json, body: Buffer.from([...Buffer.from('{"model":"q'), 0xc3, 0x28, ...Buffer.from('"}')]) }, 400],
    ["a GET whose percent-encoded message is not UTF-8", { method: "GET", path: `${listModels}?encoding=json&message=%7B%22x%22%3A%22%FF%22%7D`, headers: {} }, 400],
    ["malformed binary", { path: listModels, headers: { "content-type": "application/proto" }, body: Buffer.from([0xff, 0xff]) }, 400],
    ["a rule violation", { path: chat, headers: json, body: '{"model":"qwen.gguf","messages":[]}' }, 400],
    ["an unknown model", { path: chat, headers: json, body: '{"model":"nope","messages":[{"role":"ROLE_USER","content":"hi"}]}' }, 404],
    ["a malformed timeout", { path: chat, headers: { ...json, "connect-timeout-ms": "soon" }, body: goodChat }, 400],
    ["a timeout over the limit", { path: chat, headers: { ...json, "connect-timeout-ms": "99999999" }, body: goodChat }, 400],
    ["a declared body over the size limit", { path: chat, headers: json, body: JSON.stringify({ model: "x".repeat(maxRequestBytes) }) }, 429],
    ["a chunked body over the size limit", { path: chat, headers: json, body: JSON.stringify({ model: "x".repeat(maxRequestBytes) }), chunks: 4 }, 429],
    ["a chunked body within the limit", { path: listModels, headers: json, body: "{}", chunks: 2 }, 200],
    ["an invalid session header", { path: chat, headers: { ...json, "protogate-session-id": "not ok!" }, body: goodChat }, 400],
    ["content-encoding identity", { path: listModels, headers: { ...json, "content-encoding": "identity" }, body: "{}" }, 200],
    ["a gzip body (not on the fast path)", { path: listModels, headers: { ...json, "content-encoding": "gzip" }, body: gzipSync("{}") }, 200],
    ["an unsupported content-encoding", { path: listModels, headers: { ...json, "content-encoding": "zstd" }, body: "{}" }, 501],
    ["a GET (not on the fast path)", { method: "GET", path: `${listModels}?encoding=json&message=%7B%7D`, headers: {} }, 200],
    ["an unsupported content type", { path: chat, headers: { "content-type": "text/plain" }, body: goodChat }, 415],
  ];

  it.each(identical)("%s", async (_name, request, status) => {
    const [viaFastPath, viaAdapter] = await both(request);
    expect(viaFastPath.status).toBe(status);
    expect(viaFastPath.headers).toEqual(viaAdapter.headers);
    expect(viaFastPath.body.toString("hex")).toBe(viaAdapter.body.toString("hex"));
  });

  it("compresses a large answer the same way when the client accepts gzip", async () => {
    // 40 tool messages without tool_call_id: a violation each, an error body well over 1 KiB.
    const messages = Array.from({ length: 40 }, () => ({ role: "ROLE_TOOL", content: "42" }));
    const request = { path: chat, headers: { ...json, "accept-encoding": "gzip" }, body: JSON.stringify({ model: "qwen.gguf", messages }) };
    const [viaFastPath, viaAdapter] = await both(request);
    expect(viaFastPath.headers["content-encoding"]).toBe("gzip");
    expect(viaFastPath.headers).toEqual(viaAdapter.headers);
    expect(JSON.parse(gunzipSync(viaFastPath.body).toString("utf8"))).toEqual(JSON.parse(gunzipSync(viaAdapter.body).toString("utf8")));
  });

  it("answers 60 seeded random mutations of a Chat request alike", async () => {
    const random = createRandom(20261126);
    const fields = ["model", "messages", "tools", "toolChoice", "sampling", "responseFormat", "backendOptions", "sessionId", "reasoning", "parallelToolCalls", "unknownField"];
    const statuses = new Set<number>();
    for (let i = 0; i < 60; i++) {
      // A valid request with one field replaced by random JSON text (any shape, any number spelling, any escape).
      const field = random.pick(fields);
      const body = `{"model":"qwen.gguf","messages":[{"role":"ROLE_USER","content":"hi"}],"${field}":${randomJsonText(random, 3)}}`;
      const [viaFastPath, viaAdapter] = await both({ path: chat, headers: json, body });
      statuses.add(viaFastPath.status);
      expect(viaFastPath.status, body).toBe(viaAdapter.status);
      // A request that happens to be valid gets a per-call id and timings; every error must match byte for byte.
      if (viaFastPath.status !== 200) expect(viaFastPath.body.toString("utf8"), body).toBe(viaAdapter.body.toString("utf8"));
    }
    expect(statuses.has(400)).toBe(true);
  });

  it("answers a Chat with the same message, usage and headers (not the per-call id and timings)", async () => {
    const [viaFastPath, viaAdapter] = await both({ path: chat, headers: json, body: goodChat });
    expect(viaFastPath.status).toBe(200);
    const { "content-length": _fastLength, ...fastHeaders } = viaFastPath.headers;
    const { "content-length": _adapterLength, ...adapterHeaders } = viaAdapter.headers;
    expect(fastHeaders).toEqual(adapterHeaders);
    // The timings are measured and the id is random per call; everything else must match.
    const stable = (body: Buffer) => {
      const { timings, id, ...rest } = JSON.parse(body.toString("utf8")) as { timings: unknown; id: unknown };
      expect([timings, id]).not.toContain(undefined);
      return rest;
    };
    const answer = stable(viaFastPath.body);
    expect(answer).toEqual(stable(viaAdapter.body));
    expect(answer).toMatchObject({ message: { content: "Hello from fake" }, backend: "llamacpp" });
  });
});
