import type { NodeHandler, NodeRequest } from "./probe-routes.js";

/** Requests in flight at once unless configured. */
export const defaultMaxInFlightRequests = 10_000;

/** Options of shedLoad. */
export interface LoadSheddingOptions {
  /** Requests in flight at once; the next one is refused until one ends. */
  readonly maxInFlight: number;
  /** Requests never refused (the probes a load balancer or orchestrator relies on), and not counted. */
  readonly exempt?: (request: NodeRequest) => boolean;
  /** Called for each request refused. */
  readonly onShed?: () => void;
}

/** The probes that must answer even when the gateway is full: GET /healthz, /readyz and /metrics. */
export function isProbeRequest(request: NodeRequest): boolean {
  if (request.method !== "GET") return false;
  const path = (request.url ?? "").split("?", 1)[0];
  return path === "/healthz" || path === "/readyz" || path === "/metrics";
}

/**
 * Wraps a handler so that at most `maxInFlight` requests run at once,
 * over every protocol and service. The next one is refused before it is
 * read, in its protocol's words, as `unavailable`: a gRPC or gRPC-Web
 * request gets a trailers-only answer with `grpc-status: 14`, anything
 * else (Connect, over either HTTP version) a 503 with a Connect error
 * body; both carry `Retry-After: 1`. (Resetting an HTTP/2 stream with
 * REFUSED_STREAM would say the same more cheaply, but connect-node's
 * clients report it as `internal`.)
 *
 * Why: each backend's concurrency limiter and queue bound the chats that
 * reach it, but nothing bounded the rest — above all long-lived streams
 * such as `Health/Watch`, about 55 KB each (10 000 of them held 550 MB).
 * With 256 streams per HTTP/2 connection and hundreds of connections, one
 * client could hold enough of them to exhaust the gateway's memory.
 *
 * @example
 * const handler = shedLoad(gatewayHandler, { maxInFlight: 10_000, exempt: isProbeRequest, onShed: () => metrics.recordRequestShed() });
 */
export function shedLoad(handler: NodeHandler, options: LoadSheddingOptions): NodeHandler {
  let inFlight = 0;
  const message = `the gateway is at its limit of ${options.maxInFlight} requests in flight; retry shortly`;
  const connectBody = Buffer.from(JSON.stringify({ code: "unavailable", message }));
  return (request, response) => {
    if (options.exempt?.(request) === true) {
      handler(request, response);
      return;
    }
    if (inFlight >= options.maxInFlight) {
      options.onShed?.();
      const contentType = request.headers["content-type"] ?? "";
      if (contentType.startsWith("application/grpc")) {
        response.writeHead(200, { "content-type": contentType, "grpc-status": "14", "grpc-message": encodeURIComponent(message), "retry-after": "1" });
        response.end();
        return;
      }
      response.writeHead(503, { "content-type": "application/json", "content-length": connectBody.length, "retry-after": "1" });
      response.end(connectBody);
      return;
    }
    inFlight++;
    response.once("close", () => inFlight--);
    handler(request, response);
  };
}
