import { getEventListeners, once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
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
    // What status pages show of it has no credentials.
    expect(withUser.baseUrl).toBe(`http://***@127.0.0.1:${port}`);
    expect(createUpstreamClient({ baseUrl: `http://token:@127.0.0.1:${port}/proxy/` }).baseUrl).toBe(`http://***@127.0.0.1:${port}/proxy`);

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
      await readBodyText(response, controller.signal);
    }
    await client.getText("/health", controller.signal);
    // Each listener goes when its response closes, just after the body has ended.
    await vi.waitFor(() => expect(getEventListeners(controller.signal, "abort")).toHaveLength(0));
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

  /** A server that streams 64 KiB chunks until the client goes away, counting what it managed to send. */
  async function endlessAnswer(status: number) {
    const sent = { bytes: 0, closed: undefined as Promise<unknown> | undefined };
    const { server, port } = await startServer((_request, response) => {
      sent.closed = once(response, "close");
      response.writeHead(status, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (!response.destroyed && response.write(chunk)) sent.bytes += chunk.length;
        if (!response.destroyed) response.once("drain", pump);
      };
      pump();
    });
    servers.push(server);
    return { sent, port };
  }

  it("a whole body over the limit is a protocol failure, and the connection is closed rather than drained", async () => {
    const { sent, port } = await endlessAnswer(200);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}`, maxResponseBytes: 1024 * 1024 });
    const signal = AbortSignal.timeout(10_000);
    const response = await client.post("/v1/chat/completions", "{}", signal);
    const error = await readBodyText(response, signal).catch((caught: unknown) => caught);
    expect((error as UpstreamError).failure).toEqual({ kind: "protocol", detail: "the answer is longer than 1048576 bytes (limits.maxBackendResponseBytes)" });
    await sent.closed;
    // The server could only get the limit plus what sockets buffer on the way before the gateway hung up.
    expect(sent.bytes).toBeLessThan(16 * 1024 * 1024);
  });

  it("an error answer is read only as far as its first 64 KiB, for the log", async () => {
    const { sent, port } = await endlessAnswer(500);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
    const error = await client.post("/v1/chat/completions", "{}", AbortSignal.timeout(10_000)).catch((caught: unknown) => caught);
    const failure = (error as UpstreamError).failure;
    expect(failure.kind).toBe("http");
    expect(failure.kind === "http" ? [failure.status, failure.bodyText.length] : []).toEqual([500, 64 * 1024]);
    await sent.closed;
    expect(sent.bytes).toBeLessThan(16 * 1024 * 1024);
  });

  it("lines() holds each line to the limit", async () => {
    const { sent, port } = await endlessAnswer(200);
    const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}`, maxResponseBytes: 1024 * 1024 });
    const signal = AbortSignal.timeout(10_000);
    const response = await client.post("/v1/chat/completions", "{}", signal);
    const error = await (async () => {
      for await (const line of response.lines(signal)) void line;
    })().catch((caught: unknown) => caught);
    expect((error as UpstreamError).failure.kind).toBe("protocol");
    await sent.closed;
    expect(sent.bytes).toBeLessThan(16 * 1024 * 1024);
  });

  // postText is what a unary chat uses: the same request and the same failures as post + readBodyText, in one promise.
  describe("postText", () => {
    it("sends what post sends and answers the whole body; no abort listener stays behind", async () => {
      const { server, seen, port } = await startServer(answerJson);
      servers.push(server);
      const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}/proxy/`, apiKey: "k-1" });
      const controller = new AbortController();
      for (let index = 0; index < 5; index++) {
        expect(await client.postText("/v1/chat/completions", '{"model":"é"}', controller.signal, { traceparent: "00-x", authorization: "forged" })).toBe(
          '{"ok":true}',
        );
      }
      expect(seen[0]).toMatchObject({ method: "POST", path: "/proxy/v1/chat/completions", body: '{"model":"é"}' });
      expect(seen[0]?.headers).toMatchObject({ "content-type": "application/json", "content-length": "14", traceparent: "00-x", authorization: "Bearer k-1" });
      await vi.waitFor(() => expect(getEventListeners(controller.signal, "abort")).toHaveLength(0));
    });

    it("an abort before the answer or while the body streams is `aborted`, and closes the upstream connection", async () => {
      let upstreamClosed!: Promise<unknown>;
      const { server, seen, port } = await startServer((_request, response) => {
        upstreamClosed = once(response, "close");
        if (seen.length === 1) return; // the first request gets no answer at all
        response.writeHead(200, { "content-type": "application/json" });
        response.write('{"partial":'); // and never ends
      });
      servers.push(server);
      const client = createUpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
      for (const when of ["before the answer", "while the body streams"]) {
        const controller = new AbortController();
        const pending = client.postText("/v1/chat/completions", "{}", controller.signal).catch((caught: unknown) => caught);
        const count = seen.length;
        await new Promise<void>((resolve) => {
          const check = () => (seen.length > count ? resolve() : setImmediate(check));
          check();
        });
        controller.abort(new Error(`deadline ${when}`));
        const error = await pending;
        expect([when, (error as UpstreamError).failure.kind]).toEqual([when, "aborted"]);
        await upstreamClosed;
        expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
      }
      const aborted = AbortSignal.abort();
      const early = await client.postText("/v1/chat/completions", "{}", aborted).catch((caught: unknown) => caught);
      expect((early as UpstreamError).failure.kind).toBe("aborted");
      expect(seen).toHaveLength(2);
    });

    it("a body cut short is `truncated`, one over the limit a protocol failure, an error status `http` with its body", async () => {
      const cut = await startServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
        response.write('{"cut":');
        setImmediate(() => response.socket?.destroy());
      });
      servers.push(cut.server);
      const signal = AbortSignal.timeout(10_000);
      const truncated = await createUpstreamClient({ baseUrl: `http://127.0.0.1:${cut.port}` })
        .postText("/v1/chat/completions", "{}", signal)
        .catch((caught: unknown) => caught);
      expect((truncated as UpstreamError).failure.kind).toBe("truncated");

      const long = await endlessAnswer(200);
      const tooLong = await createUpstreamClient({ baseUrl: `http://127.0.0.1:${long.port}`, maxResponseBytes: 1024 * 1024 })
        .postText("/v1/chat/completions", "{}", signal)
        .catch((caught: unknown) => caught);
      expect((tooLong as UpstreamError).failure).toEqual({ kind: "protocol", detail: "the answer is longer than 1048576 bytes (limits.maxBackendResponseBytes)" });
      await long.sent.closed;

      const failing = await startServer((_request, response) => {
        response.writeHead(503, { "content-type": "application/json", "retry-after": "2" }).end('{"error":"loading"}');
      });
      servers.push(failing.server);
      const status = await createUpstreamClient({ baseUrl: `http://127.0.0.1:${failing.port}` })
        .postText("/v1/chat/completions", "{}", signal)
        .catch((caught: unknown) => caught);
      expect((status as UpstreamError).failure).toEqual({ kind: "http", status: 503, bodyText: '{"error":"loading"}', retryAfterMs: 2000 });
    });
  });
});
