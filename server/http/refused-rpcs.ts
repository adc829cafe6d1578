import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import type { RefusedRpc } from "../interceptors/index.js";
import { isObservedRpc } from "../observability/index.js";

/**
 * Makes every handler of the router report the RPCs it ends without
 * having called the interceptors: connect decodes a unary request (and
 * checks its envelope, timeout header, compression and size) before the
 * interceptor chain, so the observability interceptor never sees those
 * failures. The error is read back from the response the client gets —
 * a Connect error body, gRPC trailers, or gRPC-Web's trailer frame.
 * Answers that belong to no protocol (415 for an unknown content type,
 * 405 for a wrong HTTP method) carry no error and are not reported.
 *
 * Call it in the adapter's `routes`, after the services are registered.
 *
 * @example
 * connectNodeAdapter({ routes: (router) => { register(router); reportRefusedRpcs(router, operations.recordRefused); }, … });
 */
export function reportRefusedRpcs(router: ConnectRouter, report: (rpc: RefusedRpc) => void): void {
  router.handlers.forEach((handler, index) => {
    router.handlers[index] = withRefusalReport(handler, report);
  });
}

/**
 * The handler, reporting what it refused. connect-node's adapter reads
 * `router.handlers` after `routes` returns, so replacing them there is the
 * one place between the socket and connect's protocol code that sees both
 * the request's context values and the answer.
 */
function withRefusalReport(handler: UniversalHandler, report: (rpc: RefusedRpc) => void): UniversalHandler {
  const reporting = async (request: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const startedAt = performance.now();
    const response = await handler(request);
    // Connect resolves the response once its first bytes are ready: by then a unary call has been through the
    // interceptors, or never will be.
    if (request.contextValues === undefined || isObservedRpc(request.contextValues) || response.body === undefined) return response;
    return {
      ...response,
      body: passThrough(response.body, (lastChunk) => {
        const error = errorOfResponse(response, lastChunk);
        if (error === undefined) return;
        report({
          service: handler.service.typeName,
          method: handler.method.name,
          requestHeader: request.header,
          error,
          durationMs: performance.now() - startedAt,
        });
      }),
    };
  };
  return Object.assign(reporting, {
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/** Yields the chunks and, once they are all through, calls `done` with the last one. */
async function* passThrough(chunks: AsyncIterable<Uint8Array>, done: (lastChunk: Uint8Array | undefined) => void): AsyncIterable<Uint8Array> {
  let last: Uint8Array | undefined;
  for await (const chunk of chunks) {
    last = chunk;
    yield chunk;
  }
  done(last);
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
