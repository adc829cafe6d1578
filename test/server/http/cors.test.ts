import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cors } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeOrigin, withCors } from "../../../server/http/cors.js";
import { sendRaw } from "../../helpers/raw-http.js";

describe("withCors", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // The wrapped handler answers like connect's router: 405 for OPTIONS, else 200 naming the method.
    const handler = withCors((request, response) => {
      response.writeHead(request.method === "OPTIONS" ? 405 : 200, { "content-type": "text/plain" });
      response.end(`handled ${request.method ?? "?"}`);
    }, ["http://LocalHost:5173", "https://ui.example.com:443"]);
    server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const preflight = (origin: string) =>
    sendRaw(url, {
      method: "OPTIONS",
      path: "/protogate.v1.InferenceService/Chat",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version" },
    });

  it("answers a listed origin's preflight itself, with connect's methods and headers and the gateway's own", async () => {
    const answer = await preflight("http://localhost:5173");
    expect(answer.status).toBe(204);
    expect(answer.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(answer.headers["vary"]).toBe("Origin");
    expect(answer.headers["access-control-allow-methods"]).toBe("POST, GET");
    const allowed = String(answer.headers["access-control-allow-headers"]).toLowerCase().split(", ");
    expect(allowed).toEqual(
      expect.arrayContaining([
        ...cors.allowedHeaders.map((name) => name.toLowerCase()),
        "protogate-session-id",
        "traceparent",
        "tracestate",
        "protogate-caller",
        "mcp-protocol-version",
        "mcp-session-id",
      ]),
    );
    expect(answer.headers["access-control-max-age"]).toBe("7200");
    expect(answer.body.length).toBe(0);
  });

  it("lets a listed origin read the answer and the headers gRPC-Web needs", async () => {
    const answer = await sendRaw(url, { path: "/x", headers: { origin: "https://ui.example.com" }, body: "{}" });
    expect([answer.status, answer.body.toString()]).toEqual([200, "handled POST"]);
    expect(answer.headers["access-control-allow-origin"]).toBe("https://ui.example.com");
    expect(String(answer.headers["access-control-expose-headers"]).toLowerCase().split(", ")).toEqual(
      expect.arrayContaining(["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after", "retry-after-ms", "protogate-request-id", "mcp-session-id"]),
    );
  });

  it("gives other origins, and requests without one, no CORS headers and the router's own answer", async () => {
    for (const origin of ["http://localhost:5174", "http://ui.example.com", "https://attacker.example", "null"]) {
      const answer = await preflight(origin);
      expect([origin, answer.status, answer.headers["access-control-allow-origin"]]).toEqual([origin, 405, undefined]);
      const post = await sendRaw(url, { path: "/x", headers: { origin }, body: "{}" });
      expect([origin, post.status, post.headers["access-control-allow-origin"], post.headers["access-control-expose-headers"]]).toEqual([
        origin,
        200,
        undefined,
        undefined,
      ]);
    }
    const plain = await sendRaw(url, { path: "/x", body: "{}" });
    expect(Object.keys(plain.headers).filter((name) => name.startsWith("access-control-"))).toEqual([]);
    // Each of these answers depends on the Origin all the same.
    expect(plain.headers["vary"]).toBe("Origin");
  });

  it("passes a listed origin's OPTIONS that is no preflight on to the handler", async () => {
    const answer = await sendRaw(url, { method: "OPTIONS", path: "/x", headers: { origin: "http://localhost:5173" } });
    expect([answer.status, answer.headers["access-control-allow-origin"]]).toEqual([405, "http://localhost:5173"]);
  });
});

describe("normalizeOrigin", () => {
  it.each([
    ["http://LocalHost:5173", "http://localhost:5173"],
    ["https://ui.example.com:443", "https://ui.example.com"],
    ["http://[::1]:3000", "http://[::1]:3000"],
    ["null", undefined],
    ["file:///tmp/x.html", undefined],
    ["chrome-extension://abcdef", undefined],
  ])("%s → %s", (origin, normalized) => {
    expect(normalizeOrigin(origin)).toBe(normalized);
  });
});
