import { Code, ConnectError } from "@connectrpc/connect";
import { BlockList, isIP } from "node:net";
import { boundText } from "../log/bounded-text.js";
import { originList, parseWebOrigin } from "./cors.js";
import { refuseEarly } from "./early-refusal.js";
import type { NodeHandler, NodeRequest } from "./probe-routes.js";

/** Longest piece of a refused Host or Origin quoted back, in characters: the client chose it. */
const maxQuotedChars = 256;

/** Why a request is refused: which header named a host the gateway does not answer to, and the client's message. */
export interface ForeignHost {
  readonly header: "host" | "origin";
  readonly message: string;
}

/**
 * Decides whether a request was addressed to this gateway by a name it
 * answers to. Returns undefined for a request to serve, or why it is
 * refused.
 */
export type HostCheck = (request: NodeRequest) => ForeignHost | undefined;

/**
 * The defence against DNS rebinding and cross-site requests from browsers.
 *
 * Why: a web page on any site can make the visitor's browser talk to the
 * gateway on loopback. With DNS rebinding the page's own name
 * (`attacker.example`) is made to resolve to 127.0.0.1; the browser then
 * treats the gateway as the page's origin, sends JSON to it and reads the
 * answers: the local models, the backends' details in /readyz, and the
 * code sandbox at /mcp with the operator services it may call. Ollama had
 * exactly this hole (CVE-2024-28224), and the MCP specification requires
 * servers to check `Origin` for it. The gateway has no client keys yet, so
 * the name a request was sent to is what tells a local client from a page.
 *
 * The rule: the `Host` header (`:authority` over HTTP/2) must name an IP
 * address, `localhost` or a name under `.localhost`, or one of
 * `allowedHosts` (exact names, any case, a trailing dot ignored). A
 * rebinding page can only send its own DNS name, never an IP address, and
 * browsers resolve `localhost` names without DNS. An `Origin`, which
 * browsers send with every cross-site request and every POST, must be an
 * http(s) origin at a loopback address, a `localhost` name or one of
 * `allowedHosts` (any other address is just another web site: a page at
 * http://203.0.113.5 is as foreign as one at attacker.example), or be one
 * of `allowedOrigins` (listen.cors_origins: pages the operator lets call
 * the gateway). Clients
 * that are not browsers (the SDK, gRPC, curl) send an address or
 * `localhost`, and no `Origin`. An `allowedHosts` entry `*` turns the
 * check off, for a gateway behind a proxy that checks names itself.
 *
 * @example
 * const check = createHostCheck(["gateway.internal"]);
 * const refusal = check(request); // undefined, or why the request is refused
 */
export function createHostCheck(allowedHosts: readonly string[], allowedOrigins: readonly string[] = []): HostCheck {
  const allowed = new Set(allowedHosts.map(normalizeName));
  const origins = originList(allowedOrigins);
  if (allowed.has("*")) return () => undefined;
  const isNamed = (name: string) => name === "localhost" || name.endsWith(".localhost") || allowed.has(name);
  const isAllowedHost = (hostname: string) => {
    const name = normalizeName(hostname);
    return isIP(unbracket(name)) !== 0 || isNamed(name);
  };
  const isAllowedOrigin = (url: URL) => isLoopbackAddress(url.hostname) || isNamed(normalizeName(url.hostname)) || origins.has(url.origin);

  return (request) => {
    const headers = request.headers;
    const host = headers[":authority"] ?? headers.host;
    if (typeof host === "string" && !isAllowedHost(hostnameOfAuthority(host))) {
      return {
        header: "host",
        message: `requests addressed to "${boundText(host, maxQuotedChars)}" are not served: protogate answers requests sent to an IP address, localhost, or a name in listen.allowed_hosts (this protects it from DNS rebinding)`,
      };
    }
    // A browser sends one Origin. Node joins repeated ones with ", " (its type allows a list too): no origin either way.
    const origin = Array.isArray(headers.origin) ? headers.origin.join(", ") : headers.origin;
    if (origin !== undefined) {
      const url = parseWebOrigin(origin);
      if (url === undefined || !isAllowedOrigin(url)) {
        return {
          header: "origin",
          message: `requests from pages at "${boundText(origin, maxQuotedChars)}" are not served: protogate answers browsers only on pages at a loopback address, localhost, a name in listen.allowed_hosts or an origin in listen.cors_origins`,
        };
      }
    }
    return undefined;
  };
}

/**
 * Serves `handler` only for requests that pass the host check; the rest
 * are answered `permission_denied` in their protocol's words
 * (refuseEarly) before anything reads them, and reported to `onRefused`.
 *
 * @example
 * const guarded = withHostCheck(handler, { allowedHosts: config.allowedHosts, onRefused: (why) => metrics.recordForeignHost(why.header) });
 */
export function withHostCheck(
  handler: NodeHandler,
  options: {
    readonly allowedHosts: readonly string[];
    /** Exact origins whose pages are served too (listen.cors_origins). */
    readonly allowedOrigins?: readonly string[];
    readonly onRefused?: (refusal: ForeignHost) => void;
  },
): NodeHandler {
  const check = createHostCheck(options.allowedHosts, options.allowedOrigins);
  return (request, response) => {
    const refusal = check(request);
    if (refusal === undefined) return handler(request, response);
    options.onRefused?.(refusal);
    refuseEarly(request, response, new ConnectError(refusal.message, Code.PermissionDenied));
  };
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8 (which URLs write as `::ffff:7f00:1`). */
const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");
loopback.addSubnet("::ffff:7f00:0", 104, "ipv6");

/** Whether an IP address (IPv6 with or without brackets, as URLs write it) is a loopback address; false for names. */
export function isLoopbackAddress(address: string): boolean {
  const bare = unbracket(address);
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 4 ? "ipv4" : "ipv6");
}

/** Lower case, without the one trailing dot a fully qualified name may carry. */
function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** `[::1]` → `::1`; anything else unchanged. */
function unbracket(name: string): string {
  return name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
}

/** The host of a `Host` or `:authority` value, without its port: `127.0.0.1:7070` → `127.0.0.1`, `[::1]:7070` → `[::1]`. */
export function hostnameOfAuthority(authority: string): string {
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    return end === -1 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(":");
  return colon === -1 ? authority : authority.slice(0, colon);
}
