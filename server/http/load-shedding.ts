import { Code, ConnectError } from "@connectrpc/connect";
import { refuseEarly } from "./early-refusal.js";
import type { NodeRequest, NodeResponse } from "./probe-routes.js";

/** Requests in flight at once unless configured. */
export const defaultMaxInFlightRequests = 10_000;

/**
 * Answers a request the gateway has no room for, before reading it, in
 * its protocol's words (refuseEarly), as `unavailable`: a gRPC or
 * gRPC-Web request gets a trailers-only answer with `grpc-status: 14`,
 * anything else (Connect, over either HTTP version) a 503 with a Connect
 * error body; both carry `Retry-After: 1`. (Resetting an HTTP/2 stream with REFUSED_STREAM would
 * say the same more cheaply, but connect-node's clients report it as
 * `internal`.) listenDualProtocol calls it past its `maxInFlight`.
 *
 * Why a limit over every request: each backend's concurrency limiter and
 * queue bound the chats that reach it, but nothing bounded the rest —
 * above all long-lived streams such as `Health/Watch`, about 55 KB each
 * (10 000 of them held 550 MB). With 256 streams per HTTP/2 connection and
 * hundreds of connections, one client could hold enough of them to
 * exhaust the gateway's memory.
 *
 * @example
 * if (inFlight >= maxInFlight) return refuseOverloaded(request, response, maxInFlight);
 */
export function refuseOverloaded(request: NodeRequest, response: NodeResponse, maxInFlight: number): void {
  const message = `the gateway is at its limit of ${maxInFlight} requests in flight; retry shortly`;
  refuseEarly(request, response, new ConnectError(message, Code.Unavailable, { "retry-after": "1" }));
}
