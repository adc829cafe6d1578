import { randomUUID } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";

/**
 * The response header naming a request. The same id is its request log
 * line's `request_id` and, for a Chat, the answer's id (`chat-<id>`).
 */
export const requestIdHeader = "protogate-request-id";

/** The context key holding the id of the HTTP request an RPC came in; undefined for in-process calls. */
export const requestIdKey = createContextKey<string | undefined>(undefined, { description: "protogate request id" });

const ids = new WeakMap<object, string>();

/**
 * Gives a request its id, for requestIdOf and the context values; the
 * caller sends it back in `protogate-request-id` on every answer, errors
 * and refusals included, over every protocol (for gRPC a response header,
 * also in a trailers-only answer). The unary fast path adds the header to
 * its own `writeHead`; everything else gets it with `setHeader` before
 * connect's adapter writes (a `setHeader` before `writeHead` moves Node to
 * its slower way of writing headers, which sets and checks each of them
 * again).
 *
 * Why: a client that got an error, or an answer it wants to ask about,
 * needs something to point at in the gateway's log. Clients that send a
 * `traceparent` can use its trace id; this works for every client.
 *
 * @example
 * const id = assignRequestId(request);
 * if (!fastPath(request, response)) { response.setHeader(requestIdHeader, id); adapter(request, response); }
 */
export function assignRequestId(request: object): string {
  const id = randomUUID();
  ids.set(request, id);
  return id;
}

/** The id assignRequestId gave a request; undefined for one it did not see. */
export function requestIdOf(request: object): string | undefined {
  return ids.get(request);
}
