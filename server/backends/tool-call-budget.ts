import { UpstreamError } from "./upstream-failure.js";

/**
 * Counts the tool-call text of one streamed answer (ids, names, argument
 * text), which the gateway holds until every call is complete: the stream
 * ends with one complete tool call per call. Everything else a stream
 * carries is passed on and forgotten, so this is the one part of a
 * streamed answer that the gateway's memory holds whole.
 *
 * Why a limit: a backend streaming one call's arguments without end grew
 * the gateway by about 80 MB a second on loopback, until V8 refused the
 * string at its largest length (about 512 MiB) and the call failed as
 * `unknown`; a few such streams at once would end the process. Past the
 * limit the answer is a protocol failure (`internal`, "sent a malformed
 * response"), like a line or a body over `limits.maxBackendResponseBytes`.
 */
export interface ToolCallBudget {
  /** Counts tool-call text (an id, a name, arguments; absent pieces count nothing); throws UpstreamError (protocol) once the total passes the limit. */
  spend(...texts: ReadonlyArray<string | undefined>): void;
}

/**
 * Creates the budget of one streamed answer, in characters.
 *
 * @example
 * const budget = createToolCallBudget(maxResponseBytes);
 * budget.spend(delta.id, delta.name, delta.argumentsFragment);
 */
export function createToolCallBudget(maxChars: number): ToolCallBudget {
  let spent = 0;
  return {
    spend(...texts) {
      for (const text of texts) spent += text?.length ?? 0;
      if (spent > maxChars) {
        throw new UpstreamError({
          kind: "protocol",
          detail: `the answer's tool calls are longer than ${maxChars} characters (limits.maxBackendResponseBytes)`,
        });
      }
    },
  };
}
