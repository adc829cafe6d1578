import { create, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/protogate/v1/inference_service_pb.js";
import type { RunningGateway } from "../../server/gateway.js";
import { Role } from "../../sdk/index.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { sendRaw } from "../helpers/raw-http.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const chatPath = "/protogate.v1.InferenceService/Chat";
const chatJson = JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] });
const chatBinary = toBinary(ChatRequestSchema, create(ChatRequestSchema, { model, messages: [{ role: Role.USER, content: "hi" }] }));
/** A web UI on another machine: its name passes the host check only because it is a listed CORS origin. */
const ui = "https://ui.example.com:8443";

/**
 * What a browser does for a page at a listed origin calling the gateway:
 * a preflight, then the call with `Origin`; the page may read the answer
 * only if the answer names its origin.
 */
describe("CORS for listed origins (listen.cors_origins)", () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  beforeAll(async () => {
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    gateway = await startTestGateway({ backends: [{ id: "llama", kind: "openai", url: llama.url }], overrides: { corsOrigins: [ui] } });
  });
  afterAll(async () => {
    await gateway.close();
    await llama.close();
  });

  const preflight = (origin: string, requestHeaders: string) =>
    sendRaw(gateway.url, {
      method: "OPTIONS",
      path: chatPath,
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders },
    });

  it("lets a page at a listed origin call Chat over Connect and gRPC-Web and read the answer", async () => {
    const connectPreflight = await preflight(ui, "connect-protocol-version,content-type");
    expect([connectPreflight.status, connectPreflight.headers["access-control-allow-origin"]]).toEqual([204, ui]);
    expect(String(connectPreflight.headers["access-control-allow-headers"]).toLowerCase()).toContain("connect-protocol-version");

    llama.enqueue({ kind: "reply", content: "over connect" });
    const connect = await sendRaw(gateway.url, {
      path: chatPath,
      headers: { origin: ui, "content-type": "application/json", "connect-protocol-version": "1" },
      body: chatJson,
    });
    expect([connect.status, connect.headers["access-control-allow-origin"], JSON.parse(connect.body.toString()).message.content]).toEqual([
      200,
      ui,
      "over connect",
    ]);

    const grpcWebPreflight = await preflight(ui, "content-type,x-grpc-web,x-user-agent,grpc-timeout");
    expect(String(grpcWebPreflight.headers["access-control-allow-headers"]).toLowerCase()).toMatch(/x-grpc-web.*x-user-agent.*grpc-timeout/);
    llama.enqueue({ kind: "reply", content: "over grpc-web" });
    const grpcWeb = await sendRaw(gateway.url, {
      path: chatPath,
      headers: { origin: ui, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: Buffer.from(encodeEnvelope(0, chatBinary)),
    });
    expect([grpcWeb.status, grpcWeb.headers["access-control-allow-origin"]]).toEqual([200, ui]);
    // The page must be able to read gRPC-Web's status headers, and the answer and its trailers are in the body.
    expect(String(grpcWeb.headers["access-control-expose-headers"]).toLowerCase()).toContain("grpc-status");
    expect(grpcWeb.body.toString("latin1")).toContain("over grpc-web");
    expect(grpcWeb.body.toString("latin1")).toMatch(/grpc-status: ?0/);
  });

  it("lets a browser MCP client at a listed origin (an inspector page) use /mcp", async () => {
    const mcpPreflight = await sendRaw(gateway.url, {
      method: "OPTIONS",
      path: "/mcp",
      headers: { origin: ui, "access-control-request-method": "POST", "access-control-request-headers": "content-type,mcp-protocol-version" },
    });
    expect([mcpPreflight.status, mcpPreflight.headers["access-control-allow-origin"]]).toEqual([204, ui]);
    expect(String(mcpPreflight.headers["access-control-allow-headers"])).toContain("mcp-protocol-version");
    const list = await sendRaw(gateway.url, {
      path: "/mcp",
      headers: { origin: ui, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect([list.status, list.headers["access-control-allow-origin"]]).toEqual([200, ui]);
    expect(list.body.toString("utf8")).toContain("execute_typescript");
  });

  it("names the listed origin on refusals too, so the page can read why", async () => {
    const refused = await sendRaw(gateway.url, {
      path: chatPath,
      headers: { origin: ui, "content-type": "application/json" },
      body: JSON.stringify({ model: "no-such-model", messages: [{ role: "ROLE_USER", content: "hi" }] }),
    });
    expect([refused.status, refused.headers["access-control-allow-origin"], JSON.parse(refused.body.toString()).code]).toEqual([404, ui, "not_found"]);
  });

  it("gives pages at other origins no CORS headers: a local one is served but cannot read, a foreign one is refused", async () => {
    const local = await preflight("http://localhost:5173", "content-type");
    expect([local.status, local.headers["access-control-allow-origin"]]).toEqual([405, undefined]);
    llama.enqueue({ kind: "reply", content: "unreadable" });
    const localPost = await sendRaw(gateway.url, { path: chatPath, headers: { origin: "http://localhost:5173", "content-type": "application/json" }, body: chatJson });
    expect([localPost.status, localPost.headers["access-control-allow-origin"]]).toEqual([200, undefined]);

    for (const origin of ["https://attacker.example", "https://ui.example.com", "http://ui.example.com:8443"]) {
      const foreign = await preflight(origin, "content-type");
      expect([origin, foreign.status, foreign.headers["access-control-allow-origin"]]).toEqual([origin, 403, undefined]);
    }
  });
});
