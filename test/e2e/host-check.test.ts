import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBinary, create } from "@bufbuild/protobuf";
import { ChatRequestSchema } from "../../gen/protogate/v1/inference_service_pb.js";
import { defaultObservability } from "../../server/config/resolved-config.js";
import type { RunningGateway } from "../../server/gateway.js";
import { Code, createProtogateClient, Role } from "../../sdk/index.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { postGrpcRaw, sendRaw } from "../helpers/raw-http.js";
import { scrapeMetrics } from "../helpers/scrape-metrics.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const chatPath = "/protogate.v1.InferenceService/Chat";
const chatJson = JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] });
const chatBinary = toBinary(ChatRequestSchema, create(ChatRequestSchema, { model, messages: [{ role: Role.USER, content: "hi" }] }));
const mcpCall = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_typescript", arguments: { code: "return 6 * 7;" } } });

/** The Connect error a refused HTTP/1.1 exchange carried. */
function connectError(response: { status: number; body: Buffer }): [number, string, string] {
  const error = JSON.parse(response.body.toString("utf8")) as { code: string; message: string };
  return [response.status, error.code, error.message];
}

/**
 * DNS rebinding and cross-site pages, as a browser would send them: a page
 * at attacker.example whose name was made to resolve to 127.0.0.1 sends
 * `Host: attacker.example:PORT` (and, for a POST, `Origin:
 * http://attacker.example:PORT`); a page on another site sends its own
 * Origin to 127.0.0.1. The raw clients below send exactly those headers.
 */
describe("the host check against DNS rebinding and cross-site pages", () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let port: number;
  let rebound: string;
  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    gateway = await startTestGateway({
      backends: [{ id: "llama", kind: "openai", url: llama.url }],
      overrides: { allowedHosts: ["Gateway.Internal."], observability: { ...defaultObservability, requestLog: false, adminPort: 0 } },
    });
    port = gateway.port;
    rebound = `attacker.example:${port}`;
  });
  afterAll(async () => {
    await gateway.close();
    await llama.close();
  });

  it("refuses a rebound name in every protocol and on every route, before a backend or the sandbox sees it", async () => {
    const chatsBefore = llama.requests.length;
    const before = await scrapeMetrics(gateway.url);
    const browser = { host: rebound, origin: `http://${rebound}` };

    const connectJson = await sendRaw(gateway.url, { path: chatPath, headers: { ...browser, "content-type": "application/json" }, body: chatJson });
    expect(connectError(connectJson)).toEqual([403, "permission_denied", expect.stringContaining(`requests addressed to "${rebound}" are not served`)]);
    // Without Origin too: the name alone decides.
    const hostOnly = await sendRaw(gateway.url, { path: chatPath, headers: { host: rebound, "content-type": "application/proto" }, body: Buffer.from(chatBinary) });
    expect(connectError(hostOnly).slice(0, 2)).toEqual([403, "permission_denied"]);

    const grpc = await postGrpcRaw(gateway.url, chatPath, Buffer.from(encodeEnvelope(0, chatBinary)), { ":authority": rebound });
    expect([grpc.grpcStatus, grpc.grpcMessage]).toEqual([String(Code.PermissionDenied), expect.stringContaining(`"${rebound}"`)]);

    const grpcWeb = await sendRaw(gateway.url, {
      path: chatPath,
      headers: { ...browser, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: Buffer.from(encodeEnvelope(0, chatBinary)),
    });
    expect([grpcWeb.status, grpcWeb.headers["grpc-status"]]).toEqual([200, String(Code.PermissionDenied)]);

    const connectGet = await sendRaw(gateway.url, { method: "GET", path: "/protogate.v1.ModelService/ListModels?connect=v1&encoding=json&message=%7B%7D", headers: browser });
    expect(connectError(connectGet).slice(0, 2)).toEqual([403, "permission_denied"]);

    const mcp = await sendRaw(gateway.url, {
      path: "/mcp",
      headers: { ...browser, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: mcpCall,
    });
    expect(connectError(mcp).slice(0, 2)).toEqual([403, "permission_denied"]);

    for (const path of ["/readyz", "/metrics"]) {
      expect(connectError(await sendRaw(gateway.url, { method: "GET", path, headers: browser })).slice(0, 2)).toEqual([403, "permission_denied"]);
    }
    // The admin port is guarded alike.
    const admin = await sendRaw(gateway.adminUrl ?? "", { method: "GET", path: "/metrics", headers: { host: `attacker.example:${new URL(gateway.adminUrl ?? "").port}` } });
    expect(connectError(admin).slice(0, 2)).toEqual([403, "permission_denied"]);

    expect(llama.requests.length).toBe(chatsBefore);
    const after = await scrapeMetrics(gateway.url);
    expect(after.value("protogate_foreign_host_requests_total", { header: "host" }) - before.value("protogate_foreign_host_requests_total", { header: "host" })).toBe(9);
    expect(after.find("protogate_sandbox_executions_total").reduce((sum, sample) => sum + sample.value, 0)).toBe(
      before.find("protogate_sandbox_executions_total").reduce((sum, sample) => sum + sample.value, 0),
    );
    expect(after.value("protogate_requests_total", { service: "protogate.v1.InferenceService", method: "Chat", code: "ok" })).toBe(
      before.value("protogate_requests_total", { service: "protogate.v1.InferenceService", method: "Chat", code: "ok" }),
    );
  });

  it("refuses a page on another site by its Origin, though it addressed 127.0.0.1, even at an IP address or with a form's content type", async () => {
    const chatsBefore = llama.requests.length;
    const before = await scrapeMetrics(gateway.url);
    const loopback = `127.0.0.1:${port}`;
    for (const [origin, contentType] of [
      ["https://attacker.example", "application/json"],
      ["https://attacker.example", "text/plain"],
      ["http://203.0.113.5", "application/json"],
      ["null", "application/json"],
    ] as const) {
      const answer = await sendRaw(gateway.url, { path: chatPath, headers: { host: loopback, origin, "content-type": contentType }, body: chatJson });
      expect([origin, ...connectError(answer)]).toEqual([origin, 403, "permission_denied", expect.stringContaining(`requests from pages at "${origin}"`)]);
    }
    const mcp = await sendRaw(gateway.url, {
      path: "/mcp",
      headers: { host: loopback, origin: "https://attacker.example", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: mcpCall,
    });
    expect(mcp.status).toBe(403);
    expect(llama.requests.length).toBe(chatsBefore);
    const after = await scrapeMetrics(gateway.url);
    expect(after.value("protogate_foreign_host_requests_total", { header: "origin" }) - before.value("protogate_foreign_host_requests_total", { header: "origin" })).toBe(5);
  });

  it("serves IP addresses, localhost names, listed names and pages on them", async () => {
    for (const headers of [
      { host: `127.0.0.1:${port}` },
      { host: `[::1]:${port}` },
      { host: `localhost:${port}`, origin: "http://localhost:5173" },
      { host: `app.localhost:${port}` },
      { host: `gateway.internal:${port}`, origin: "https://GATEWAY.internal" },
    ]) {
      llama.enqueue({ kind: "reply", content: "served" });
      const answer = await sendRaw(gateway.url, { path: chatPath, headers: { ...headers, "content-type": "application/json" }, body: chatJson });
      expect([headers.host, answer.status, JSON.parse(answer.body.toString("utf8")).message?.content]).toEqual([headers.host, 200, "served"]);
    }
    for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
      llama.enqueue({ kind: "reply", content: protocol });
      const answer = await createProtogateClient({ baseUrl: gateway.url, protocol }).inference.chat({ model, messages: [{ role: Role.USER, content: "hi" }] });
      expect(answer.message?.content).toBe(protocol);
    }
  });

  it("serves any name when allowed_hosts has *", async () => {
    const open = await startTestGateway({ backends: [{ id: "llama", kind: "openai", url: llama.url }], overrides: { allowedHosts: ["*"] } });
    try {
      llama.enqueue({ kind: "reply", content: "open" });
      const answer = await sendRaw(open.url, {
        path: chatPath,
        headers: { host: `attacker.example:${open.port}`, origin: "null", "content-type": "application/json" },
        body: chatJson,
      });
      expect(answer.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
