import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { BackendStatus } from "../catalog/model-catalog.js";

/** A Node request handler for HTTP/1.1 and HTTP/2, as connect-node types it. */
export type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
/** Node's request for either HTTP version. */
export type NodeRequest = Parameters<NodeHandler>[0];
/** Node's response for either HTTP version. */
export type NodeResponse = Parameters<NodeHandler>[1];

/** What the probe routes read. */
export interface ProbeRoutesOptions {
  readonly statuses: () => readonly BackendStatus[];
  readonly draining: () => boolean;
  /** Serves `/mcp` (any method): the code sandbox's MCP endpoint, when the sandbox is on. */
  readonly mcp?: (request: NodeRequest, response: NodeResponse) => void;
  /** The Prometheus exposition for `GET /metrics`; absent: no /metrics route. */
  readonly metrics?: () => Promise<{ readonly contentType: string; readonly text: string }>;
  /** A backend's circuit breaker state, added to /readyz as `circuit` (informational: it does not change readiness). */
  readonly circuit?: (backendId: string) => string | undefined;
}

/**
 * Whether a request is one of the probes below that must answer even when
 * the gateway is at its limit of requests in flight: GET /healthz, /readyz
 * and /metrics.
 */
export function isProbeRequest(request: NodeRequest): boolean {
  if (request.method !== "GET") return false;
  const path = (request.url ?? "").split("?", 1)[0];
  return path === "/healthz" || path === "/readyz" || path === "/metrics";
}

/**
 * Plain-HTTP routes beside the RPC services, for orchestrators and load
 * balancers: `GET /healthz` (the process is alive) and `GET /readyz` (at
 * least one backend is reachable and ready, and the server is not draining;
 * JSON detail per backend), `GET /metrics` (Prometheus text exposition,
 * when metrics are given). Anything else is a JSON 404.
 */
export function createProbeRoutes(options: ProbeRoutesOptions): (request: NodeRequest, response: NodeResponse) => void {
  return (request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/mcp" && options.mcp !== undefined) return options.mcp(request, response);
    if (request.method === "GET" && path === "/healthz") {
      return sendJson(response, 200, { status: "ok" });
    }
    if (request.method === "GET" && path === "/readyz") {
      const backends = options.statuses().map((status) => {
        const circuit = options.circuit?.(status.id);
        return {
          id: status.id,
          kind: status.kind,
          url: status.url,
          reachable: status.reachable,
          ready: status.ready,
          models: status.models,
          detail: status.detail,
          checked_at: status.checkedAt === 0 ? null : new Date(status.checkedAt).toISOString(),
          ...(circuit === undefined ? {} : { circuit }),
        };
      });
      const draining = options.draining();
      const ready = !draining && backends.some((backend) => backend.ready);
      return sendJson(response, ready ? 200 : 503, { ready, draining, backends });
    }
    if (request.method === "GET" && path === "/metrics" && options.metrics !== undefined) {
      options.metrics().then(
        ({ contentType, text }) => {
          response.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
          response.end(text);
        },
        () => sendJson(response, 500, { error: "metrics could not be rendered" }),
      );
      return;
    }
    return sendJson(response, 404, { error: `no route for ${request.method ?? "?"} ${path}` });
  };
}

function sendJson(response: NodeResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}
