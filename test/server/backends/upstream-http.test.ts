import { getEventListeners, once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { UpstreamError } from "../../../server/backends/upstream-failure.js";
import { createUpstreamClient, readBodyText } from "../../../server/backends/upstream-http.js";

/** What the server saw of one request. */
interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** A loopback server that records requests and answers with `respond`. */
async function startServer(
  respond: (request: IncomingMessage, response: ServerResponse) => void,
  host = "127.0.0.1",
): Promise<{ server: Server; seen: SeenRequest[]; port: number }> {
  const seen: SeenRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      seen.push({ method: request.method ?? "", path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
      respond(request, response);
    });
  });
  server.listen(0, host);
  await once(server, "listening");
  return { server, seen, port: (server.address() as AddressInfo).port };
}

const answerJson = (_request: IncomingMessage, response: ServerResponse) => {
  response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
};

describe("upstream HTTP client", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });

  it("keeps the base URL's path prefix and sends the body with its length and type", async () => {
    const { server, seen, port } = await startServer(answerJson);
    servers.push(server);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}/proxy/llama//` });
    const response = await client.post("/v1/chat/completions", '{"model":"é"}', AbortSignal.timeout(5000), { traceparent: "00-x" });
    expect(await response.text()).toBe('{"ok":true}');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "POST", path: "/proxy/llama/v1/chat/completions", body: '{"model":"é"}' });
    expect(seen[0]?.headers).toMatchObject({ "content-type": "application/json", "content-length": "14", traceparent: "00-x" });
  });

  it("sends credentials in the base URL as basic auth, and the API key as a bearer token that per-call headers cannot replace", async () => {
    const { server, seen, port } = await startServer(answerJson);
    servers.push(server);
    const withUser = createUpstreamClient({ baseUrl: `http://al%20ice:s%3Acret@127.0.0.1:${port}` });
    await withUser.getText("/v1/models", AbortSignal.timeout(5000));
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from("al ice:s:cret").toString("base64")}`);

    const withKey = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "k-1" });
    await (await withKey.post("/v1/chat/completions", "{}", AbortSignal.timeout(5000), { authorization: "Bearer forged" })).text();
    expect(seen[1]?.headers.authorization).toBe("Bearer k-1");
  });

  it("reaches an IPv6 loopback backend", async () => {
    const started = await startServer(answerJson, "::1");
    servers.push(started.server);
    const client = createUpstreamClient({ baseUrl: `http://[::1]:${started.port}` });
    expect(await client.getText("/health", AbortSignal.timeout(5000))).toBe('{"ok":true}');
  });

  it("leaves no abort listener behind once a response has been read", async () => {
    const { server, port } = await startServer(answerJson);
    servers.push(server);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
    const controller = new AbortController();
    for (let index = 0; index < 20; index++) {
      const response = await client.post("/v1/chat/completions", "{}", controller.signal);
      const closed = once(response.body as IncomingMessage, "close");
      await readBodyText(response, controller.signal);
      await closed;
    }
    await client.getText("/health", controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("an abort while the body streams ends the read as `aborted` and closes the upstream connection", async () => {
    let upstreamClosed!: Promise<unknown>;
    const { server, port } = await startServer((request, response) => {
      upstreamClosed = once(response, "close");
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"partial":'); // and never ends
      void request;
    });
    servers.push(server);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
    const controller = new AbortController();
    const response = await client.post("/v1/chat/completions", "{}", controller.signal);
    const reading = readBodyText(response, controller.signal);
    controller.abort(new Error("client went away"));
    const error = await reading.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure.kind).toBe("aborted");
    await upstreamClosed;
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("an abort before the answer rejects as `aborted`; an already-aborted signal sends nothing", async () => {
    const { server, seen, port } = await startServer(() => undefined); // never answers
    servers.push(server);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
    const controller = new AbortController();
    const pending = client.post("/v1/chat/completions", "{}", controller.signal).catch((caught: unknown) => caught);
    await new Promise<void>((resolve) => {
      const check = () => (seen.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    controller.abort(new Error("deadline"));
    const error = await pending;
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure.kind).toBe("aborted");

    const early = await client.post("/v1/chat/completions", "{}", controller.signal).catch((caught: unknown) => caught);
    expect((early as UpstreamError).failure.kind).toBe("aborted");
    expect(seen).toHaveLength(1);
  });

  it("a body cut short by the server is `truncated`", async () => {
    const { server, port } = await startServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      response.write('{"cut":');
      setImmediate(() => response.socket?.destroy());
    });
    servers.push(server);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
    const signal = AbortSignal.timeout(5000);
    const response = await client.post("/v1/chat/completions", "{}", signal);
    const error = await readBodyText(response, signal).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure.kind).toBe("truncated");
  });
});
