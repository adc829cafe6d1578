/**
 * Who runs sandbox code, for the audit log: the `protogate-caller` header
 * when a client names itself, otherwise the peer address.
 */
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";

/** The header a client names itself with, for example `protogate-caller: billing-agent`. */
export const callerHeader = "protogate-caller";

/** The remote address of the connection an RPC came in on, when known. */
export const peerAddressKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

/** What the node adapter's `contextValues` option is given (either HTTP version). */
interface PeerRequest {
  readonly socket?: { readonly remoteAddress?: string | undefined } | null | undefined;
}

/**
 * Context values for one incoming request: its peer address. Pass to
 * `connectNodeAdapter({ contextValues })`.
 */
export function peerContextValues(request: PeerRequest): ContextValues {
  return createContextValues().set(peerAddressKey, request.socket?.remoteAddress);
}

const printable = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

/**
 * Names the caller from the `protogate-caller` header (printable ASCII, at
 * most 128 characters; anything else is ignored), else `peer:<address>`,
 * else "unknown". `prefix` tells entry points apart (`mcp:`).
 *
 * @example
 * callerName(context.requestHeader.get(callerHeader), context.values.get(peerAddressKey));
 */
export function callerName(header: string | null | undefined, peer: string | undefined, prefix = ""): string {
  const named = header?.trim();
  if (named !== undefined && printable.test(named)) return `${prefix}${named}`;
  if (peer !== undefined && peer !== "") return `${prefix}peer:${peer}`;
  return `${prefix}unknown`;
}
