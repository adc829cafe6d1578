import { cors } from "@connectrpc/connect";
import { sessionIdHeader } from "../interceptors/observability-interceptor.js";
import { retryAfterMsHeader } from "../reliability/concurrency-limiter.js";
import { callerHeader } from "../sandbox/caller.js";
import type { NodeHandler, NodeResponse } from "./probe-routes.js";
import { requestIdHeader } from "./request-id.js";

/** How long a browser may cache a preflight's answer, in seconds. */
const preflightMaxAgeSeconds = 7200;

/** MCP's Streamable HTTP headers, for browser MCP clients (an inspector page) calling /mcp. */
const mcpHeaders = ["mcp-protocol-version", "mcp-session-id", "last-event-id"];

/** Request headers a page may send: connect's protocol headers, the gateway's session, trace and caller headers, and MCP's. */
const allowedHeaders = [...cors.allowedHeaders, sessionIdHeader, "traceparent", "tracestate", callerHeader, ...mcpHeaders].join(", ");

/** Response headers a page may read: gRPC-Web's status and details, the gateway's retry hints and request id, MCP's session. */
const exposedHeaders = [...cors.exposedHeaders, "retry-after", retryAfterMsHeader, requestIdHeader, "mcp-session-id"].join(", ");

/**
 * An `Origin` value as a URL when it is a web page's origin (http or
 * https); undefined for `null`, files, apps' own schemes and anything that
 * is not a URL. One parse: the host check and CORS both read it.
 */
export function parseWebOrigin(origin: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
}

/**
 * An origin as browsers send it in `Origin`: scheme, host and a port other
 * than the scheme's default, lower case (`HTTP://LocalHost:80` →
 * `http://localhost`); undefined for anything that is not an http(s) URL.
 */
export function normalizeOrigin(origin: string): string | undefined {
  return parseWebOrigin(origin)?.origin;
}

/** Listed origins (listen.cors_origins) in the form browsers send them, for exact matching by CORS and the host check. */
export function originList(origins: readonly string[]): ReadonlySet<string> {
  return new Set(origins.map((origin) => normalizeOrigin(origin) ?? origin));
}

/**
 * Lets web pages at the listed origins call the gateway from a browser
 * with Connect or gRPC-Web, and read the answers (CORS).
 *
 * Why opt-in and exact: a browser only lets a page read a cross-origin
 * answer when the server names the page's origin. Browser apps served from
 * elsewhere (a dev server on localhost:5173, an internal web UI) need it;
 * every other page must stay unable to read the gateway's answers, so only
 * origins the operator listed get the headers, never a wildcard.
 *
 * For a listed origin: a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) is answered 204 with the methods and
 * headers connect's protocols use (`cors` from `@connectrpc/connect`) plus
 * the session and trace headers; every other request gets
 * `Access-Control-Allow-Origin` and the headers a page may read, including
 * gRPC-Web's status. Requests from other origins pass through unchanged:
 * their preflights get the RPC router's 405, so the browser sends nothing.
 * Every answer carries `Vary: Origin`, so that a cache never hands one
 * page's answer to another.
 * The host check runs first (withHostCheck), and lets listed origins in.
 *
 * @example
 * const handler = withCors(gatewayHandler, ["http://localhost:5173"]);
 */
export function withCors(handler: NodeHandler, origins: readonly string[]): NodeHandler {
  const listed = originList(origins);
  if (listed.size === 0) return handler;
  return (request, response) => {
    const nodeResponse = response as NodeResponse;
    // Every answer depends on the Origin now, also those without CORS headers: caches (of Connect GETs) must know.
    nodeResponse.setHeader("vary", "Origin");
    const origin = request.headers.origin;
    if (typeof origin !== "string" || !listed.has(normalizeOrigin(origin) ?? "")) return handler(request, response);
    nodeResponse.setHeader("access-control-allow-origin", origin);
    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      nodeResponse.writeHead(204, {
        "access-control-allow-methods": cors.allowedMethods.join(", "),
        "access-control-allow-headers": allowedHeaders,
        "access-control-max-age": String(preflightMaxAgeSeconds),
      });
      nodeResponse.end();
      return;
    }
    nodeResponse.setHeader("access-control-expose-headers", exposedHeaders);
    handler(request, response);
  };
}
