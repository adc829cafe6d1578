import { Code, type ConnectError } from "@connectrpc/connect";
import { backendCallError, upstreamErrorMessage } from "../upstream-failure.js";

/**
 * Maps any failure of a call to Ollama's native API to a ConnectError.
 * Recognises "model not found" (404), "does not support tools" (400) and
 * out-of-memory load failures (500); everything else gets the shared mapping.
 */
export function ollamaError(error: unknown, backendId: string, signal: AbortSignal): ConnectError {
  return backendCallError(error, signal, {
    backendId,
    describeHttp(status, bodyText) {
      const message = upstreamErrorMessage(bodyText).toLowerCase();
      if (status === 404 && message.includes("not found")) {
        return { code: Code.NotFound, message: `backend "${backendId}" does not have the requested model` };
      }
      if (status === 400 && message.includes("does not support")) {
        return { code: Code.FailedPrecondition, message: `backend "${backendId}": the model does not support a requested feature (for example tools or thinking)` };
      }
      if (status === 500 && message.includes("memory")) {
        return { code: Code.ResourceExhausted, message: `backend "${backendId}" has too little memory to load the model` };
      }
      return undefined;
    },
  });
}
