import { Code, type ConnectError } from "@connectrpc/connect";
import { backendCallError, upstreamErrorMessage } from "../upstream-failure.js";

/**
 * Maps any failure of a call to an OpenAI-compatible backend to a
 * ConnectError. Recognises llama.cpp's "Loading model" 503 and the model
 * not-found answers of llama.cpp, vLLM and LM Studio; everything else gets
 * the shared mapping.
 */
export function openAiError(error: unknown, backendId: string, signal: AbortSignal): ConnectError {
  return backendCallError(error, signal, {
    backendId,
    describeHttp(status, bodyText) {
      const message = upstreamErrorMessage(bodyText).toLowerCase();
      if (status === 503 && message.includes("loading")) {
        return { code: Code.Unavailable, message: `backend "${backendId}" is still loading the model` };
      }
      // Only the phrases servers use for a missing model: "is not a multimodal model" is a bad request.
      if ((status === 404 || status === 400) && message.includes("model") && /not found|does not exist/.test(message)) {
        return { code: Code.NotFound, message: `backend "${backendId}" does not have the requested model` };
      }
      if (status === 400 && message.includes("context")) {
        return { code: Code.InvalidArgument, message: `backend "${backendId}": the request exceeds the model's context` };
      }
      return undefined;
    },
  });
}
