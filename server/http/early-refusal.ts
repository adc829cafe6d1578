import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { NodeRequest, NodeResponse } from "./probe-routes.js";

/**
 * Answers a request with `error` before any of it is read, in its
 * protocol's words, with connect's own encoding of errors (as the RPC paths
 * use): a gRPC or gRPC-Web request gets a trailers-only answer (HTTP 200
 * with `grpc-status` and `grpc-message`), anything else — Connect over
 * either HTTP version, and the plain routes — the Connect error JSON with
 * the code's HTTP status. The error's metadata (e.g. `retry-after`) become
 * response headers. Every client of the gateway can read the code.
 *
 * @example
 * refuseEarly(request, response, new ConnectError("busy", Code.Unavailable, { "retry-after": "1" }));
 */
export function refuseEarly(request: NodeRequest, response: NodeResponse, error: ConnectError): void {
  const contentType = request.headers["content-type"] ?? "";
  const headers: Record<string, string> = {};
  if (contentType.startsWith("application/grpc")) {
    setTrailerStatus(new Headers(), error).forEach((value, key) => (headers[key] = value));
    response.writeHead(200, { ...headers, "content-type": contentType });
    response.end();
    return;
  }
  error.metadata.forEach((value, key) => (headers[key] = value));
  const body = errorToJsonBytes(error, {});
  response.writeHead(codeToHttpStatus(error.code), { ...headers, "content-type": "application/json", "content-length": String(body.byteLength) });
  response.end(body);
}
