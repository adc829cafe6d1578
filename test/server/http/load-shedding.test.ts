import { once } from "node:events";
import { connect as connectHttp2 } from "node:http2";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type DualProtocolServer, listenDualProtocol } from "../../../server/http/dual-protocol-server.js";
import { isProbeRequest } from "../../../server/http/probe-routes.js";

describe("the in-flight limit", () => {
  const servers: DualProtocolServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close({ graceMs: 100 });
  });

  it("refuses requests past maxInFlight in their protocol's words, never the probes, and takes them again once one ends", async () => {
    const held: Array<() => void> = [];
    let shed = 0;
    const server = await listenDualProtocol(
      (request, response) => {
        if (request.url === "/hold") held.push(() => response.end("done"));
        else response.end("ok");
      },
      { host: "127.0.0.1", port: 0, maxInFlight: 2, exemptFromInFlightLimit: isProbeRequest, onShed: () => shed++ },
    );
    servers.push(server);
    const holding = [fetch(`${server.url}/hold`, { method: "POST" }), fetch(`${server.url}/hold`, { method: "POST" })];
    await vi.waitFor(() => expect(held).toHaveLength(2));

    // HTTP/1.1: 503, a Connect error body, and when to come back.
    const refused = await fetch(`${server.url}/protogate.v1.InferenceService/Chat`, { method: "POST", body: "{}" });
    expect([refused.status, refused.headers.get("retry-after"), await refused.json()]).toEqual([
      503,
      "1",
      { code: "unavailable", message: "the gateway is at its limit of 2 requests in flight; retry shortly" },
    ]);
    // gRPC over HTTP/2: a trailers-only answer with grpc-status 14 (unavailable).
    const session = connectHttp2(server.url);
    const stream = session.request({ ":method": "POST", ":path": "/protogate.v1.InferenceService/Chat", "content-type": "application/grpc" });
    stream.end();
    const [headers] = (await once(stream, "response")) as [Record<string, string>];
    expect([headers[":status"], headers["grpc-status"], decodeURIComponent(headers["grpc-message"] ?? "")]).toEqual([
      200,
      "14",
      "the gateway is at its limit of 2 requests in flight; retry shortly",
    ]);
    stream.resume();
    await once(stream, "end");
    session.close();
    // The probes answer all the same.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(shed).toBe(2);

    for (const release of held.splice(0)) release();
    await Promise.all(holding);
    expect(await (await fetch(`${server.url}/next`, { method: "POST" })).text()).toBe("ok");
  });

  it("treats only GET /healthz, /readyz and /metrics as probes", () => {
    const request = (method: string, url: string) => ({ method, url }) as Parameters<typeof isProbeRequest>[0];
    expect([request("GET", "/healthz"), request("GET", "/readyz?verbose=1"), request("GET", "/metrics")].map(isProbeRequest)).toEqual([true, true, true]);
    expect([request("POST", "/healthz"), request("GET", "/healthz/x"), request("GET", "/grpc.health.v1.Health/Check")].map(isProbeRequest)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
