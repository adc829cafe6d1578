import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
  createAsyncIterable,
  encodeEnvelope,
} from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, codeToHttpStatus, contentTypeUnaryJson, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { RefusedRpc } from "../interceptors/index.js";
import { boundText } from "../log/bounded-text.js";
import { isObservedRpc } from "../observability/index.js";
import { requestIdKey } from "./request-id.js";
import { getMessageUtf8Error } from "./strict-utf8.js";

/** The longest refusal message a client gets back, in characters. */
const maxRefusalMessageChars = 1024;

/**
 * A refused request's error as the client should get it, and as it is
 * recorded.
 *
 * The code: connect-es answers a binary message that does not unmarshal
 * with `internal` ("parse binary: …"), as grpc-go does; but the fault is
 * the client's, like JSON that does not decode (already
 * `invalid_argument`), and connect-go answers it with `invalid_argument`.
 * `internal` would also page operators for clients' garbage. Only called
 * for requests no interceptor saw, so a "parse binary" error there is the
 * request's, never the response's.
 *
 * The message: connect quotes an unknown JSON key in full, so a 3 MB key
 * came back as a 3 MB message (and went into the log); it is cut to
 * 1 024 characters (boundText).
 *
 * A client that went away before the answer (a reset HTTP/2 stream, a
 * connection closed in the middle of the body) is `canceled`, whatever
 * connect made of the cut-off request (`internal` for a reset stream,
 * `aborted` for a closed connection, `invalid_argument` for JSON cut
 * short): none of it reaches the client, and counting it would let any
 * client that gives up — or resets streams on purpose — inflate the
 * gateway's error and schema-violation rates. What connect made of it
 * stays as the cause, for the log.
 */
export function correctRefusal(error: ConnectError, clientGone: boolean): ConnectError {
  if (clientGone) return new ConnectError("the client went away before the request was answered", Code.Canceled, undefined, undefined, error);
  const binaryGarbage = error.code === Code.Internal && error.rawMessage.startsWith("parse binary: ");
  const message = boundText(error.rawMessage, maxRefusalMessageChars);
  if (!binaryGarbage && message === error.rawMessage) return error;
  // Such an error has no details to carry over.
  return new ConnectError(message, binaryGarbage ? Code.InvalidArgument : error.code, error.metadata, undefined, error.cause);
}

/**
 * Makes every handler of the router handle the RPCs it ends without
 * having called the interceptors: connect decodes a unary request (and
 * checks its envelope, timeout header, compression and size) before the
 * interceptor chain, so the observability interceptor never sees those
 * failures. Each is reported, and corrected (correctRefusal).
 * A Connect GET whose `message` is not UTF-8 is refused here too (see
 * getMessageUtf8Error), before connect would repair it.
 * The error is read back from the response the client gets — a Connect
 * error body, gRPC trailers, or gRPC-Web's trailer frame — and rewritten
 * there before it is sent. Answers that belong to no protocol (415 for an
 * unknown content type, 405 for a wrong HTTP method) carry no error and
 * are left alone.
 *
 * Call it in the adapter's `routes`, after the services are registered.
 *
 * @example
 * connectNodeAdapter({ routes: (router) => { register(router); handleRefusedRpcs(router, operations.recordRefused); }, … });
 */
export function handleRefusedRpcs(router: ConnectRouter, report: (rpc: RefusedRpc) => void): void {
  router.handlers.forEach((handler, index) => {
    router.handlers[index] = withRefusals(handler, report);
  });
}

/**
 * The handler, correcting and reporting what it refused. connect-node's
 * adapter reads `router.handlers` after `routes` returns, so replacing
 * them there is the one place between the socket and connect's protocol
 * code that sees both the request's context values and the answer.
 */
function withRefusals(handler: UniversalHandler, report: (rpc: RefusedRpc) => void): UniversalHandler {
  // Connect GET exists only for side-effect-free methods.
  const acceptsGet = handler.allowedMethods.includes("GET");
  const handling = async (request: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const startedAt = performance.now();
    const refused = (error: ConnectError) =>
      report({
        service: handler.service.typeName,
        method: handler.method.name,
        requestHeader: request.header,
        error,
        durationMs: performance.now() - startedAt,
        requestId: request.contextValues?.get(requestIdKey),
      });
    const badGetMessage = acceptsGet && request.method === "GET" ? getMessageUtf8Error(request.url) : undefined;
    if (badGetMessage !== undefined) {
      refused(badGetMessage);
      return connectErrorResponse(badGetMessage);
    }
    const response = await handler(request);
    // Connect resolves the response once its first bytes are ready: by then a unary call has been through the
    // interceptors, or never will be.
    if (request.contextValues === undefined || isObservedRpc(request.contextValues) || response.body === undefined) return response;
    const answer: UniversalServerResponse = { ...response };
    answer.body = settleLastChunk(response.body, (lastChunk) => {
      const sent = errorOfResponse(response, lastChunk);
      if (sent === undefined) return lastChunk;
      // The request's signal aborts when the client's stream or connection closes, which before the answer means it left.
      const error = correctRefusal(sent, request.signal.aborted);
      refused(error);
      return error === sent ? lastChunk : rewrite(answer, error, lastChunk);
    });
    return answer;
  };
  // The route's description (path, methods, content types) stays the handler's.
  return Object.assign(handling, handler);
}

/**
 * Yields the chunks one behind, so that the last one can be replaced by
 * `settle` before it goes out. connect-node writes the status line after
 * the first chunk is read and the trailers after the last, so `settle`
 * may still change both. Only refused calls pass through here, and their
 * bodies are one or two small chunks.
 */
async function* settleLastChunk(
  chunks: AsyncIterable<Uint8Array>,
  settle: (lastChunk: Uint8Array | undefined) => Uint8Array | undefined,
): AsyncIterable<Uint8Array> {
  let held: Uint8Array | undefined;
  for await (const chunk of chunks) {
    if (held !== undefined) yield held;
    held = chunk;
  }
  const last = settle(held);
  if (last !== undefined) yield last;
}

/** The error a finished response carries, in whichever protocol it speaks; undefined for none. */
function errorOfResponse(response: UniversalServerResponse, lastChunk: Uint8Array | undefined): ConnectError | undefined {
  const contentType = response.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    // The trailers are the last envelope, flagged as such.
    if (lastChunk === undefined || lastChunk.byteLength < 5 || ((lastChunk[0] ?? 0) & trailerFlag) !== trailerFlag) return undefined;
    return findTrailerError(trailerParse(lastChunk.subarray(5)));
  }
  if (contentType.startsWith("application/grpc")) {
    return response.trailer === undefined ? undefined : findTrailerError(response.trailer);
  }
  // Connect: a unary error is a JSON body with a non-200 status.
  if (response.status === 200 || !contentType.startsWith("application/json") || lastChunk === undefined) return undefined;
  const fallback = new ConnectError(`HTTP ${response.status}`, codeFromHttpStatus(response.status));
  if (response.header?.has("content-encoding") === true) return fallback;
  try {
    return errorFromJsonBytes(lastChunk, undefined, fallback);
  } catch {
    return fallback;
  }
}

/** A Connect unary error answer, as connect writes one. */
function connectErrorResponse(error: ConnectError): UniversalServerResponse {
  const body = errorToJsonBytes(error, {});
  return {
    status: codeToHttpStatus(error.code),
    header: new Headers({ "content-type": contentTypeUnaryJson, "content-length": String(body.byteLength) }),
    body: createAsyncIterable([body]),
  };
}

/** Puts `error` in the response instead of the one connect wrote; returns the last chunk to send. */
function rewrite(response: UniversalServerResponse, error: ConnectError, lastChunk: Uint8Array | undefined): Uint8Array | undefined {
  const contentType = response.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    return encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error)));
  }
  if (contentType.startsWith("application/grpc")) {
    if (response.trailer !== undefined) setTrailerStatus(response.trailer, error);
    return lastChunk;
  }
  response.status = codeToHttpStatus(error.code);
  const body = errorToJsonBytes(error, {});
  response.header?.set("content-length", String(body.byteLength));
  return body;
}
