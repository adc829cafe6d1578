import { randomUUID } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";
import type { NodeHandler, NodeResponse } from "./probe-routes.js";

/**
 * The response header naming a request. The same id is its request log
 * line's `request_id` and, for a Chat, the answer's id (`chat-<id>`).
 */
export const requestIdHeader = "protogate-request-id";

/** The context key holding the id of the HTTP request an RPC came in; undefined for in-process calls. */
export const requestIdKey = createContextKey<string | undefined>(undefined, { description: "protogate request id" });

const ids = new WeakMap<object, string>();

/**
 * Gives every request an id, sent back in `protogate-request-id` on every
 * answer, errors and refusals included, over every protocol (for gRPC it
 * is a response header, also in a trailers-only answer).
 *
 * Why: a client that got an error, or an answer it wants to ask about,
 * needs something to point at in the gateway's log. Clients that send a
 * `traceparent` can use its trace id; this works for every client.
 *
 * @example
 * const handler = withRequestIds(gatewayHandler);
 * // later, for the same request: requestIdOf(request)
 */
export function withRequestIds(handler: NodeHandler): NodeHandler {
  return (request, response) => {
    const id = randomUUID();
    ids.set(request, id);
    (response as NodeResponse).setHeader(requestIdHeader, id);
    handler(request, response);
  };
}

/** The id withRequestIds gave a request; undefined for one it did not see. */
export function requestIdOf(request: object): string | undefined {
  return ids.get(request);
}
