import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import type { NodeRequest, NodeResponse } from "./probe-routes.js";

/** What to answer a request that is refused before it is read. */
export interface EarlyRefusal {
  readonly code: Code;
  readonly message: string;
  /** Extra response headers, e.g. `retry-after`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Answers a request before any of it is read, in its protocol's words: a
 * gRPC or gRPC-Web request gets a trailers-only answer (HTTP 200 with
 * `grpc-status` and `grpc-message`), anything else — Connect over either
 * HTTP version, and the plain routes — the Connect error JSON with the
 * code's HTTP status. Every client of the gateway can read the code.
 *
 * @example
 * refuseEarly(request, response, { code: Code.Unavailable, message: "busy", headers: { "retry-after": "1" } });
 */
export function refuseEarly(request: NodeRequest, response: NodeResponse, refusal: EarlyRefusal): void {
  const contentType = request.headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc")) {
    response.writeHead(200, {
      "content-type": contentType,
      "grpc-status": String(refusal.code),
      "grpc-message": encodeURIComponent(refusal.message),
      ...refusal.headers,
    });
    response.end();
    return;
  }
  const body = Buffer.from(JSON.stringify({ code: codeToString(refusal.code), message: refusal.message }));
  response.writeHead(codeToHttpStatus(refusal.code), {
    "content-type": "application/json",
    "content-length": String(body.length),
    ...refusal.headers,
  });
  response.end(body);
}
