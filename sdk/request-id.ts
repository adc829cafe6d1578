import type { ConnectError } from "@connectrpc/connect";

/**
 * The response header naming a request in the gateway's log: its log
 * line's `request_id`, and a Chat answer's id is `chat-<request id>`. Read
 * it with the `onHeader` call option, or from a failed call's error.
 */
export const requestIdHeader = "protogate-request-id";

/**
 * The id of the request a failed call made, to find its line in the
 * gateway's log; null when the answer carried none (it did not come from a
 * gateway, or never arrived).
 *
 * @example
 * try { await client.inference.chat(request); } catch (error) { console.error(requestIdOf(ConnectError.from(error))); }
 */
export function requestIdOf(error: ConnectError): string | null {
  return error.metadata.get(requestIdHeader);
}
