import { request as httpRequest } from "node:http";
import { connect as connectHttp2 } from "node:http2";

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
export function postGrpcRaw(baseUrl: string, path: string, body: Buffer): Promise<{ httpStatus: number; grpcStatus: string; grpcMessage: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
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
