import { getEventListeners } from "node:events";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, createContextValues } from "@connectrpc/connect";
import { compressionGzip } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { createUnaryFastPath, serviceRegistration } from "../../../server/http/connect-unary-fast-path.js";
import { sendRaw } from "../../helpers/raw-http.js";

/** The status a test server answers with when the fast path declines a request. */
const declined = 599;
const checkPath = "/grpc.health.v1.Health/Check";
const json = { "content-type": "application/json" };

describe("the unary fast path", () => {
  let server: Server;
  let baseUrl: string;
  let shutdown: AbortController;
  /** The service "slow" waits for its signal and throws its reason; these are those signals, in arrival order. */
  let slowSignals: AbortSignal[];
  let onSlowCall: () => void;
  /** Resolves with the `count`th slow call's signal once it has arrived. */
  const slowCall = (count: number) =>
    new Promise<AbortSignal>((resolve) => {
      onSlowCall = () => {
        const signal = slowSignals[count - 1];
        if (signal !== undefined) resolve(signal);
      };
      onSlowCall();
    });
  let lastContext: HandlerContext | undefined;

  beforeEach(async () => {
    shutdown = new AbortController();
    slowSignals = [];
    onSlowCall = () => {};
    const fastPath = createUnaryFastPath({
      services: [
        serviceRegistration(Health, {
          async check(request, context) {
            lastContext = context;
            if (request.service !== "slow") return { status: HealthCheckResponse_ServingStatus.SERVING };
            slowSignals.push(context.signal);
            onSlowCall();
            return new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)));
          },
        }),
      ],
      interceptors: [],
      jsonOptions: { ignoreUnknownFields: false },
      readMaxBytes: 1024,
      maxTimeoutMs: 60_000,
      shutdownSignal: shutdown.signal,
      acceptCompression: [compressionGzip],
      contextValues: () => createContextValues(),
    });
    server = createServer((request, response) => {
      if (!fastPath(request, response)) response.writeHead(declined).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("serves unary POSTs with a JSON or binary body", async () => {
    const viaJson = await sendRaw(baseUrl, { path: checkPath, headers: json, body: "{}" });
    expect([viaJson.status, viaJson.headers["content-type"], viaJson.body.toString()]).toEqual([200, "application/json", '{"status":"SERVING"}']);
    const binary = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" })));
    const viaBinary = await sendRaw(baseUrl, { path: checkPath, headers: { "content-type": "application/proto" }, body: binary });
    expect([viaBinary.status, viaBinary.headers["content-type"], viaBinary.body.toString("hex")]).toEqual([200, "application/proto", "0801"]);
  });

  it.each([
    ["a GET", { method: "GET", path: `${checkPath}?encoding=json&message=%7B%7D` }],
    ["a streaming content type", { path: checkPath, headers: { "content-type": "application/connect+json" }, body: "{}" }],
    ["a compressed body", { path: checkPath, headers: { ...json, "content-encoding": "gzip" }, body: gzipSync("{}") }],
    ["an unknown path", { path: "/grpc.health.v1.Health/Nope", headers: json, body: "{}" }],
    ["a streaming method", { path: "/grpc.health.v1.Health/Watch", headers: json, body: "{}" }],
    ["a query string", { path: `${checkPath}?x=1`, headers: json, body: "{}" }],
    ["an unknown content type", { path: checkPath, headers: { "content-type": "text/plain" }, body: "{}" }],
  ])("leaves %s to connect-node's adapter", async (_name, request) => {
    expect((await sendRaw(baseUrl, request)).status).toBe(declined);
  });

  it("leaves nothing attached to the shutdown signal per call, and aborts each finished call's signal", async () => {
    const listeners = getEventListeners(shutdown.signal, "abort").length;
    for (let i = 0; i < 3; i++) expect((await sendRaw(baseUrl, { path: checkPath, headers: json, body: "{}" })).status).toBe(200);
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(listeners);
    expect(lastContext?.signal.aborted).toBe(true);
  });

  it("aborts the call's signal when the client goes away", async () => {
    const answer = sendRaw(baseUrl, { path: checkPath, headers: json, body: '{"service":"slow"}' }).catch((error: unknown) => error);
    const signal = await slowCall(1);
    expect(signal.aborted).toBe(false);
    server.closeAllConnections();
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    expect(ConnectError.from(signal.reason).code).toBe(Code.Canceled);
    expect(await answer).toBeInstanceOf(Error);
  });

  it("ends in-flight calls with the shutdown signal's reason", async () => {
    const answer = sendRaw(baseUrl, { path: checkPath, headers: json, body: '{"service":"slow"}' });
    await slowCall(1);
    shutdown.abort(new ConnectError("the gateway is shutting down", Code.Unavailable));
    const { status, body } = await answer;
    expect([status, JSON.parse(body.toString())]).toEqual([503, { code: "unavailable", message: "the gateway is shutting down" }]);
  });

  it("at shutdown ends exactly the calls still in flight, whichever ended before them", async () => {
    const slow = (headers: Record<string, string>) => sendRaw(baseUrl, { path: checkPath, headers: { ...json, ...headers }, body: '{"service":"slow"}' });
    const first = slow({});
    await slowCall(1);
    const second = slow({ "connect-timeout-ms": "300" });
    await slowCall(2);
    const third = slow({});
    await slowCall(3);
    // The middle one ends on its own first, at its deadline.
    const { status: secondStatus } = await second;
    expect(secondStatus).toBe(504);
    shutdown.abort(new ConnectError("the gateway is shutting down", Code.Unavailable));
    const answers = await Promise.all([first, third]);
    expect(answers.map(({ status, body }) => [status, JSON.parse(body.toString()).code])).toEqual([
      [503, "unavailable"],
      [503, "unavailable"],
    ]);
    expect(slowSignals.map((signal) => ConnectError.from(signal.reason).code)).toEqual([Code.Unavailable, Code.DeadlineExceeded, Code.Unavailable]);
  });

  it("tells the implementation how much of the client's timeout is left, and nothing without one", async () => {
    await sendRaw(baseUrl, { path: checkPath, headers: { ...json, "connect-timeout-ms": "5000" }, body: "{}" });
    const remaining = lastContext?.timeoutMs();
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(5000);
    await sendRaw(baseUrl, { path: checkPath, headers: json, body: "{}" });
    expect(lastContext?.timeoutMs()).toBeUndefined();
  });

  it("ends a call at the client's deadline", async () => {
    const { status, body } = await sendRaw(baseUrl, { path: checkPath, headers: { ...json, "connect-timeout-ms": "50" }, body: '{"service":"slow"}' });
    expect([status, JSON.parse(body.toString())]).toEqual([504, { code: "deadline_exceeded", message: "the operation timed out" }]);
  });
});
