import { once } from "node:events";
import { type ClientHttp2Session, connect as connectHttp2 } from "node:http2";
import { connect } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type DualProtocolServer, type ListenOptions, listenDualProtocol } from "../../../server/http/dual-protocol-server.js";

describe("listenDualProtocol", () => {
  const servers: DualProtocolServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close({ graceMs: 100 });
  });

  /** A loopback server that answers "ok" at once, and `slowPath` with "late" only once `gate` has resolved. */
  async function serve(slowPath: string, gate: Promise<void>, limits: Omit<ListenOptions, "host" | "port">): Promise<DualProtocolServer> {
    const server = await listenDualProtocol(
      (request, response) => {
        if (request.url === slowPath) void gate.then(() => response.end("late"));
        else response.end("ok");
      },
      { host: "127.0.0.1", port: 0, ...limits },
    );
    servers.push(server);
    return server;
  }

  it("answers 408 and closes an HTTP/1.1 request that trickles its headers past the limit (slowloris), but not a slow answer", async () => {
    let slowlorisClosed!: () => void;
    const cut = new Promise<void>((resolve) => (slowlorisClosed = resolve));
    // The slow answer waits until the slowloris was cut: longer than both timeouts, which only cover receiving.
    const server = await serve("/slow-answer", cut, { headersTimeoutMs: 300, requestTimeoutMs: 300 });
    const slowAnswer = fetch(`${server.url}/slow-answer`, { method: "POST", body: "sent at once" });
    const socket = connect(server.port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("POST /protogate.v1.InferenceService/Chat HTTP/1.1\r\nHost: x\r\n");
    // One more header line every 50 ms: the connection is never idle, the headers never end.
    const trickle = setInterval(() => socket.write("X-Slow: 1\r\n"), 50);
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    await once(socket, "close");
    clearInterval(trickle);
    slowlorisClosed();
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);

    const slow = await slowAnswer;
    expect([slow.status, await slow.text()]).toEqual([200, "late"]);
    // A request that sends its headers in time is served as ever.
    const good = await fetch(`${server.url}/`);
    expect([good.status, await good.text()]).toEqual([200, "ok"]);
  });

  it("lets one HTTP/2 connection have only so many streams at once, and says so in its settings", async () => {
    const held: Array<() => void> = [];
    let running = 0;
    let mostAtOnce = 0;
    const server = await listenDualProtocol(
      (_request, response) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        held.push(() => {
          running--;
          response.end("ok");
        });
      },
      { host: "127.0.0.1", port: 0, http2MaxConcurrentStreams: 2 },
    );
    servers.push(server);
    const session = connectHttp2(server.url);
    await once(session, "remoteSettings");
    expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
    const answers = [1, 2, 3].map(() => {
      const stream = session.request({ ":method": "POST", ":path": "/held" });
      stream.end();
      stream.resume();
      return once(stream, "close");
    });
    await vi.waitFor(() => expect(held).toHaveLength(2));
    // A PING is answered only after every frame sent before it was read: a third stream would have started by now.
    await new Promise<void>((resolve, reject) => session.ping((error) => (error === null ? resolve() : reject(error))));
    expect(running).toBe(2);
    held.shift()?.();
    await vi.waitFor(() => expect(held).toHaveLength(2));
    for (const release of held.splice(0)) release();
    await Promise.all(answers);
    expect(mostAtOnce).toBe(2);
    session.close();
  });

  it("closes connections over maxConnections on arrival, counts them, and keeps serving the open ones", async () => {
    let dropped = 0;
    const server = await listenDualProtocol((_request, response) => response.end("ok"), {
      host: "127.0.0.1",
      port: 0,
      maxConnections: 2,
      onConnectionDropped: () => dropped++,
    });
    servers.push(server);
    const open = async () => {
      const socket = connect(server.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await once(socket, "connect");
      return socket;
    };
    const ask = (socket: ReturnType<typeof connect>) => {
      let answer = "";
      socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
      socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      return once(socket, "close").then(() => answer);
    };
    const [first, second] = [await open(), await open()];
    const third = await open(); // the TCP handshake completes in the kernel; the server closes it at once
    expect(await ask(third)).toBe("");
    expect(dropped).toBe(1);
    expect(await ask(first)).toMatch(/^HTTP\/1\.1 200 .*ok$/s);
    expect(await ask(second)).toMatch(/^HTTP\/1\.1 200 .*ok$/s);
  });

  it("advertises 256 streams per HTTP/2 connection by default, not Node's 2³²−1", async () => {
    const server = await serve("/none", Promise.resolve(), {});
    const session = connectHttp2(server.url);
    await once(session, "remoteSettings");
    expect(session.remoteSettings.maxConcurrentStreams).toBe(256);
    session.close();
  });

  it("closes an HTTP/2 connection left without a stream, but not one whose stream stays silent longer", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await serve("/slow", released, { http2IdleTimeoutMs: 200 });
    const request = (session: ClientHttp2Session, path: string) =>
      new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": path });
        let body = "";
        stream.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        stream.on("end", () => resolve(body));
        stream.on("error", reject);
      });

    const busy = connectHttp2(server.url);
    const slow = request(busy, "/slow");
    const idle = connectHttp2(server.url);
    expect(await request(idle, "/")).toBe("ok");
    // The idle connection gets GOAWAY and closes, more than the idle time after its last stream ended…
    const [goawayCode] = (await once(idle, "goaway")) as [number];
    expect(goawayCode).toBe(0);
    await once(idle, "close");
    // …while the busy one, silent for as long, still delivers its answer.
    release();
    expect(await slow).toBe("late");
    expect(busy.closed).toBe(false);
    busy.close();
  });
});
