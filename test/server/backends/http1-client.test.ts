import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Http1Origin, type Http1Request, startHttp1Exchange } from "../../../server/backends/http1-client.js";
import type { Http1ResponseHead } from "../../../server/backends/http1-response-parser.js";
import { UpstreamError } from "../../../server/backends/upstream-failure.js";
import { freeLoopbackPort } from "../../helpers/refused-url.js";
import { type ProcessResult, repoRoot, runProcess } from "../../helpers/run-process.js";

/** A raw TCP server that shows each request's exact bytes and answers with whatever `answer` writes. */
interface WireServer {
  readonly origin: Http1Origin;
  /** Every connection the server accepted, in order. */
  readonly connections: Socket[];
  /** For each connection, when it closed. */
  readonly closed: Array<Promise<unknown>>;
  /** Every request head and body, as received. */
  readonly requests: string[];
}

async function startWireServer(answer: (socket: Socket, request: string, index: number) => void): Promise<WireServer & { server: Server }> {
  const connections: Socket[] = [];
  const closed: Array<Promise<unknown>> = [];
  const requests: string[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    closed.push(once(socket, "close"));
    let pending = "";
    socket.on("data", (chunk: Buffer) => {
      pending += chunk.toString("latin1");
      // One request is a head, plus a body of its Content-Length.
      for (;;) {
        const headEnd = pending.indexOf("\r\n\r\n");
        if (headEnd === -1) return;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(pending.slice(0, headEnd))?.[1] ?? 0);
        if (pending.length < headEnd + 4 + length) return;
        const request = pending.slice(0, headEnd + 4 + length);
        pending = pending.slice(request.length);
        requests.push(request);
        answer(socket, request, requests.length - 1);
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { server, connections, closed, requests, origin: { secure: false, hostname: "127.0.0.1", port } };
}

const okAnswer = (body: string, extraHeaders = "") => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;

/** One exchange as a promise of its head and whole body. */
function exchange(origin: Http1Origin, request: Http1Request, signal: AbortSignal = AbortSignal.timeout(5000)): Promise<{ head: Http1ResponseHead; body: string }> {
  return new Promise((resolve, reject) => {
    let head: Http1ResponseHead | undefined;
    const chunks: Buffer[] = [];
    startHttp1Exchange(origin, request, signal, {
      onHead: (value) => {
        head = value;
      },
      onBody: (chunk) => chunks.push(Buffer.from(chunk)),
      onEnd: () => (head === undefined ? reject(new Error("no head")) : resolve({ head, body: Buffer.concat(chunks).toString("utf8") })),
      onError: reject,
    });
  });
}

/**
 * One GET of "/" in a process of its own (so what keeps a process alive, and
 * environment read at start-up, can be tested), printing the answer's status and body.
 */
function exchangeInChild(origin: Http1Origin, env: Readonly<Record<string, string>> = {}): Promise<ProcessResult> {
  const script = `
    import { startHttp1Exchange } from ${JSON.stringify(join(repoRoot, "server/backends/http1-client.ts"))};
    startHttp1Exchange(${JSON.stringify(origin)}, { method: "GET", path: "/", headers: {} }, new AbortController().signal, {
      onHead(head) { process.stdout.write(head.status + " "); }, onBody(chunk) { process.stdout.write(chunk); }, onEnd() {}, onError(error) { throw error; },
    });
  `;
  return runProcess(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeoutMs: 15_000, env });
}

const post = (body: string, headers: Record<string, string> = {}): Http1Request => ({
  method: "POST",
  path: "/v1/chat/completions",
  headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  bodyText: body,
});

describe("HTTP/1.1 upstream client", () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  it("writes the request exactly, and carries requests one after another on one keep-alive connection", async () => {
    const wire = await startWireServer((socket, _request, index) => socket.write(okAnswer(`{"n":${index}}`)));
    servers.push(wire.server);
    for (let index = 0; index < 5; index++) {
      const { head, body } = await exchange(wire.origin, post('{"model":"é"}', { traceparent: "00-abc" }));
      expect(head.status).toBe(200);
      expect(body).toBe(`{"n":${index}}`);
    }
    expect(wire.connections).toHaveLength(1);
    expect(wire.requests[0]).toBe(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${wire.origin.port}\r\nConnection: keep-alive\r\n` +
        `traceparent: 00-abc\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n${Buffer.from('{"model":"é"}').toString("latin1")}`,
    );
  });

  it("gives concurrent requests connections of their own, and keeps them for the next ones", async () => {
    const held: Array<() => void> = [];
    const wire = await startWireServer((socket, _request, index) => {
      const send = () => socket.write(okAnswer(`{"n":${index}}`));
      if (index < 3) {
        held.push(send);
        // Answers only once all three are in: they cannot have shared a connection.
        if (held.length === 3) for (const release of held) release();
      } else send();
    });
    servers.push(wire.server);
    const bodies = await Promise.all([0, 1, 2].map(() => exchange(wire.origin, post("{}"))));
    expect(bodies.map(({ body }) => body).sort()).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
    for (let index = 0; index < 3; index++) await exchange(wire.origin, post("{}"));
    expect(wire.connections).toHaveLength(3);
  });

  it("does not reuse a connection the answer closes, ends by closing, or follows with stray bytes", async () => {
    const answers = [
      okAnswer("{}", "Connection: close\r\n"),
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
      `${okAnswer("{}")}HTTP/1.1 200 OK\r\n`,
      okAnswer("{}", "Keep-Alive: timeout=0\r\n"),
      okAnswer("{}"),
      okAnswer("{}"),
    ];
    const wire = await startWireServer((socket, _request, index) => {
      socket.write(answers[index] ?? "");
      if (index === 1) socket.end();
    });
    servers.push(wire.server);
    for (let index = 0; index < answers.length; index++) expect((await exchange(wire.origin, post("{}"))).body).toBe("{}");
    // Five connections: one for each of the first four answers, and the last two on one.
    expect(wire.connections).toHaveLength(5);
  });

  it("refuses a header or path that would split the request head, and sends nothing", async () => {
    const wire = await startWireServer((socket) => socket.write(okAnswer("{}")));
    servers.push(wire.server);
    const refused: Array<[Http1Request, string]> = [
      [post("{}", { traceparent: "00-x\r\nx-injected: yes" }), "ERR_INVALID_CHAR"],
      [post("{}", { "x-a": "a\nb" }), "ERR_INVALID_CHAR"],
      [post("{}", { "bad name": "x" }), "ERR_INVALID_HTTP_TOKEN"],
      [post("{}", { "x-a:b": "x" }), "ERR_INVALID_HTTP_TOKEN"],
      [{ method: "GET", path: "/v1/models HTTP/1.1\r\nx-injected: yes\r\n\r\nGET /", headers: {} }, "ERR_UNESCAPED_CHARACTERS"],
    ];
    for (const [request, code] of refused) {
      const error = await exchange(wire.origin, request).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code });
    }
    await exchange(wire.origin, { method: "GET", path: "/v1/models", headers: {} });
    expect(wire.requests).toEqual([`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:${wire.origin.port}\r\nConnection: keep-alive\r\n\r\n`]);
  });

  it("an abort closes the connection, which the backend sees, and reports the signal's reason", async () => {
    const wire = await startWireServer((socket) => socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    servers.push(wire.server);
    const controller = new AbortController();
    const received: string[] = [];
    const outcome = new Promise<unknown>((resolve) => {
      startHttp1Exchange(wire.origin, post("{}"), controller.signal, {
        onHead: () => {},
        onBody: (chunk) => {
          received.push(chunk.toString());
          controller.abort(new Error("client left"));
        },
        onEnd: () => resolve("ended"),
        onError: resolve,
      });
    });
    expect(await outcome).toEqual(new Error("client left"));
    expect(received).toEqual(["hello"]);
    await wire.closed[0];
    // An already-aborted signal sends nothing.
    const early = await exchange(wire.origin, post("{}"), controller.signal).catch((caught: unknown) => caught);
    expect(early).toEqual(new Error("client left"));
    expect(wire.requests).toHaveLength(1);
  });

  it("a reader that stops takes the connection down with it", async () => {
    const wire = await startWireServer((socket) => socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    servers.push(wire.server);
    const calls: string[] = [];
    await new Promise<void>((resolve) => {
      const running = startHttp1Exchange(wire.origin, post("{}"), AbortSignal.timeout(5000), {
        onHead: () => calls.push("head"),
        onBody: () => {
          calls.push("body");
          running.destroy();
          resolve();
        },
        onEnd: () => calls.push("end"),
        onError: () => calls.push("error"),
      });
    });
    await wire.closed[0];
    expect(calls).toEqual(["head", "body"]);
  });

  it("an answer that is not HTTP/1.1 is a protocol failure, and its connection is closed", async () => {
    const wire = await startWireServer((socket) => socket.write("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    servers.push(wire.server);
    const error = await exchange(wire.origin, post("{}")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure).toEqual({ kind: "protocol", detail: 'the answer is not valid HTTP/1.1: malformed status line "SSH-2.0-OpenSSH_9.2"' });
    await wire.closed[0];
  });

  it("a connection that closes early is a reset: before the answer, and in its body", async () => {
    const wire = await startWireServer((socket, _request, index) => {
      if (index === 0) socket.end();
      else socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    servers.push(wire.server);
    await expect(exchange(wire.origin, post("{}"))).rejects.toMatchObject({ code: "ECONNRESET", message: "socket hang up" });
    await expect(exchange(wire.origin, post("{}"))).rejects.toMatchObject({ code: "ECONNRESET", message: "the response ended before its end" });
  });

  it("reports a refused connection with Node's code", async () => {
    const origin = { secure: false, hostname: "127.0.0.1", port: await freeLoopbackPort() };
    await expect(exchange(origin, post("{}"))).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("lets the process exit while connections are idle, as Node's keep-alive agent does", async () => {
    const wire = await startWireServer((socket) => socket.write(okAnswer('{"idle":true}')));
    servers.push(wire.server);
    const { code, stdout } = await exchangeInChild(wire.origin);
    expect(code).toBe(0);
    expect(stdout).toBe('200 {"idle":true}');
    // The child left its connection idle, still open, when it exited.
    expect(wire.connections).toHaveLength(1);
  });

  describe("over TLS", () => {
    let directory = "";
    let keyFile = "";
    let certificateFile = "";
    // A self-signed certificate for localhost and 127.0.0.1, made for these tests only.
    beforeAll(() => {
      directory = mkdtempSync(join(tmpdir(), "protogate-tls-"));
      keyFile = join(directory, "key.pem");
      certificateFile = join(directory, "cert.pem");
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", keyFile, "-out", certificateFile,
      ], { stdio: "ignore" });
    });
    afterAll(() => rmSync(directory, { recursive: true, force: true }));

    async function startTlsServer() {
      const server = createHttpsServer({ key: readFileSync(keyFile), cert: readFileSync(certificateFile) }, (_request, response) => {
        response.writeHead(200, { "content-type": "application/json" }).end('{"tls":true}');
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return { server, port: (server.address() as AddressInfo).port };
    }

    it("verifies the backend's certificate: one no trusted authority signed is refused", async () => {
      const { server, port } = await startTlsServer();
      try {
        const error = await exchange({ secure: true, hostname: "127.0.0.1", port }, post("{}")).catch((caught: unknown) => caught);
        expect(error).toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    it("talks HTTPS to a backend whose certificate is trusted (NODE_EXTRA_CA_CERTS), naming the host for SNI", async () => {
      const { server, port } = await startTlsServer();
      const serverNames: Array<string | false> = [];
      server.on("secureConnection", (socket: { servername: string | false }) => serverNames.push(socket.servername));
      try {
        const { code, stdout: output } = await exchangeInChild({ secure: true, hostname: "localhost", port }, { NODE_EXTRA_CA_CERTS: certificateFile });
        expect(output).toBe('200 {"tls":true}');
        expect(code).toBe(0);
        expect(serverNames).toEqual(["localhost"]);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });
});
