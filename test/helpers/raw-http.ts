import { request as httpRequest } from "node:http";
import { connect as connectHttp2, constants as http2Constants } from "node:http2";
import { connect as connectTcp } from "node:net";

/** What a raw HTTP/1.1 exchange returned, exactly as it came off the wire. */
export interface RawHttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A request to send byte for byte: no header is added but those Node requires (host, and framing). */
export interface RawHttpRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Send the body in this many chunked pieces without a content-length. */
  readonly chunks?: number;
}

/**
 * Sends one HTTP/1.1 request with node:http (no fetch: it would add
 * accept-encoding and other headers of its own) and reads the whole answer.
 *
 * @example
 * const { status, body } = await sendRaw(gateway.url, { path: "/healthz", method: "GET" });
 */
export function sendRaw(baseUrl: string, request: RawHttpRequest): Promise<RawHttpResponse> {
  const url = new URL(request.path, baseUrl);
  const body = typeof request.body === "string" ? Buffer.from(request.body) : request.body;
  const headers: Record<string, string> = { ...request.headers };
  if (body !== undefined && request.chunks === undefined) headers["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: request.method ?? "POST", headers, agent: false, signal: AbortSignal.timeout(10_000) }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    outgoing.on("error", reject);
    if (body === undefined) {
      outgoing.end();
      return;
    }
    if (request.chunks === undefined) {
      outgoing.end(body);
      return;
    }
    const size = Math.ceil(body.length / request.chunks);
    for (let offset = 0; offset < body.length; offset += size) outgoing.write(body.subarray(offset, offset + size));
    outgoing.end();
  });
}

/**
 * POSTs bytes exactly as given (no envelope is added) as `application/grpc`
 * over h2c; returns the HTTP status and the gRPC status and message (from
 * the trailers, or the headers of a trailers-only answer).
 *
 * @example
 * const answer = await postGrpcRaw(gateway.url, "/protogate.v1.InferenceService/Chat", Buffer.from([0, 0, 0, 0, 0]));
 */
export function postGrpcRaw(
  baseUrl: string,
  path: string,
  body: Buffer,
  /** Extra or replaced request headers, e.g. `:authority`. */
  headers: Readonly<Record<string, string>> = {},
): Promise<{ httpStatus: number; grpcStatus: string; grpcMessage: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    stream.setTimeout(10_000, () => stream.close());
    let httpStatus = 0;
    let status: Record<string, unknown> = {};
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"]);
      status = headers; // a trailers-only answer puts grpc-status in the headers
    });
    stream.on("trailers", (trailers) => (status = trailers));
    stream.on("error", reject);
    stream.on("data", () => undefined);
    stream.on("end", () => {
      session.close();
      resolve({
        httpStatus,
        grpcStatus: String(status["grpc-status"]),
        grpcMessage: decodeURIComponent(String(status["grpc-message"] ?? "")),
      });
    });
    stream.end(body);
  });
}

/** A request its client abandons halfway: headers sent, then part of a body that promised more. */
export interface AbandonedRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The part of the body sent before the client leaves. */
  readonly partialBody: Buffer;
}

/**
 * Sends an HTTP/1.1 request's headers and part of its body, then closes
 * the connection. `Expect: 100-continue` makes the server say when it has
 * taken the request (Node answers 100 Continue as it starts the handler),
 * so the client leaves while the handler waits for the rest of the body.
 * Resolves once the connection is closed.
 *
 * @example
 * await abandonHttp1Request(gateway.url, { path: "/protogate.v1.InferenceService/Chat", headers: { "content-type": "application/json" }, partialBody: Buffer.from('{"mo') });
 */
export function abandonHttp1Request(baseUrl: string, request: AbandonedRequest): Promise<void> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(url.port), url.hostname);
    socket.setTimeout(10_000, () => socket.destroy(new Error("no 100 Continue within 10 s")));
    socket.once("error", reject);
    socket.once("close", () => resolve());
    socket.once("connect", () => {
      const head = Object.entries({ ...request.headers, host: url.host, "content-length": String(request.partialBody.length + 100), expect: "100-continue" })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("");
      socket.write(`POST ${request.path} HTTP/1.1\r\n${head}\r\n`);
    });
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (!received.startsWith("HTTP/1.1 100 ")) return;
      socket.write(request.partialBody, () => socket.destroy());
    });
  });
}

/**
 * Opens an HTTP/2 stream with the request's headers and part of its body,
 * waits until the server has taken it (a PING sent after the headers is
 * answered only once they were processed), then resets the stream with
 * CANCEL, as a gRPC client that gives up does. Resolves once the stream
 * is closed.
 *
 * @example
 * await resetHttp2Request(gateway.url, { path: "/protogate.v1.InferenceService/Chat", headers: { "content-type": "application/grpc" }, partialBody: Buffer.from([0, 0, 0, 0, 9]) });
 */
export function resetHttp2Request(baseUrl: string, request: AbandonedRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(baseUrl);
    session.on("error", reject);
    const stream = session.request({ ...request.headers, ":method": "POST", ":path": request.path });
    stream.on("error", () => undefined); // the reset is ours
    // Once the stream has its id, its HEADERS are queued; the PING goes out with or after them.
    stream.once("ready", () => {
      stream.write(request.partialBody);
      session.ping((error) => {
        if (error !== null) {
          reject(error);
          return;
        }
        stream.close(http2Constants.NGHTTP2_CANCEL, () => {
          session.close();
          resolve();
        });
      });
    });
  });
}
