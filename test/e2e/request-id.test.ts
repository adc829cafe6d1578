import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createProtogateClient, requestIdHeader, requestIdOf, Role } from "../../sdk/index.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { sendRaw } from "../helpers/raw-http.js";
import { type RunningProcess, startProcess } from "../helpers/run-process.js";

const model = "qwen.gguf";
const chatPath = "/protogate.v1.InferenceService/Chat";
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const request = { model, messages: [{ role: Role.USER, content: "hi" }] };

/** The id a raw HTTP/1.1 answer carries, checked to be a UUID. */
function idOf(headers: Record<string, string | string[] | undefined>): string {
  const id = headers["protogate-request-id"];
  expect(id).toMatch(uuid);
  return String(id);
}

/**
 * Every answer names its request, and the request log names it alike: the
 * gateway runs as `protogate serve` (request log on, as in production) and
 * its log lines are read from stderr once it has stopped.
 */
describe("request ids", { timeout: 60_000 }, () => {
  let llama: OpenAiFake;
  let serve: RunningProcess;
  let url: string;
  /** Each request's id, with the code its log line must show. */
  const expected: Array<{ id: string; code: string }> = [];

  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    serve = startProcess(process.execPath, ["bin/protogate.js", "serve", "--port", "0", "--backend", `openai=${llama.url}`], { timeoutMs: 50_000 });
    [, url = ""] = await serve.waitForStdout(/^protogate listening on (http:\/\/127\.0\.0\.1:\d+) /m);
  });
  afterAll(async () => {
    serve.child.kill("SIGTERM");
    await serve.exited;
    await llama.close();
  });

  it("names a Chat answer by its request: the header, and the answer's id", async () => {
    llama.enqueue({ kind: "reply", content: "hello" });
    const answer = await sendRaw(url, { path: chatPath, headers: { "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] }) });
    expect(answer.status).toBe(200);
    const id = idOf(answer.headers);
    expect(JSON.parse(answer.body.toString("utf8")).id).toBe(`chat-${id}`);
    expected.push({ id, code: "ok" });

    // A stream over gRPC: the id is in the response headers and in its start event.
    llama.enqueue({ kind: "reply", content: "streamed" });
    let streamId = "";
    const client = createProtogateClient({ baseUrl: url, protocol: "grpc" });
    for await (const event of client.inference.chatStream(request, { onHeader: (header) => (streamId = header.get(requestIdHeader) ?? "") })) {
      if (event.event.case === "start") expect(event.event.value.id).toBe(`chat-${streamId}`);
    }
    expect(streamId).toMatch(uuid);
    expected.push({ id: streamId, code: "ok" });
  });

  it("names errors and refusals in every protocol, before and after the interceptors", async () => {
    for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
      const error = await createProtogateClient({ baseUrl: url, protocol })
        .inference.chat({ ...request, model: "no-such-model" })
        .then(() => undefined, (reason: unknown) => ConnectError.from(reason));
      expect([protocol, error?.code]).toEqual([protocol, Code.NotFound]);
      // The SDK's helper reads the header the server writes.
      const id = (error === undefined ? null : requestIdOf(error)) ?? "";
      expect(id).toMatch(uuid);
      expected.push({ id, code: "not_found" });
    }
    // Refused before any interceptor: an unknown field on the fast path, a GET that is not UTF-8 through the adapter.
    const unknownField = await sendRaw(url, { path: chatPath, headers: { "content-type": "application/json" }, body: '{"model":"qwen.gguf","temprature":1}' });
    expect(unknownField.status).toBe(400);
    expected.push({ id: idOf(unknownField.headers), code: "invalid_argument" });
    const badGet = await sendRaw(url, { method: "GET", path: "/protogate.v1.ModelService/ListModels?encoding=json&message=%7B%22x%22%3A%22%FF%22%7D" });
    expect(badGet.status).toBe(400);
    expected.push({ id: idOf(badGet.headers), code: "invalid_argument" });
    // Every answer differs.
    expect(new Set(expected.map((entry) => entry.id)).size).toBe(expected.length);
  });

  it("writes each request's log line with the same id", async () => {
    serve.child.kill("SIGTERM");
    const { stderr } = await serve.exited;
    const requestLines = stderr
      .split("\n")
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as { request_id: string; code: string });
    for (const { id, code } of expected) {
      expect(requestLines.filter((line) => line.request_id === id).map((line) => line.code)).toEqual([code]);
    }
  });
});
