import { once } from "node:events";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type DualProtocolServer, listenDualProtocol } from "../../../server/http/dual-protocol-server.js";

describe("listenDualProtocol", () => {
  const servers: DualProtocolServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close({ graceMs: 100 });
  });

  it("answers 408 and closes an HTTP/1.1 request that trickles its headers past the limit (slowloris)", async () => {
    const server = await listenDualProtocol((_request, response) => response.end("ok"), {
      host: "127.0.0.1",
      port: 0,
      headersTimeoutMs: 300,
    });
    servers.push(server);
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
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);

    // A request that sends its headers in time is served as ever.
    const good = await fetch(`${server.url}/`);
    expect([good.status, await good.text()]).toEqual([200, "ok"]);
  });
});
