import type { DescMessage, DescService, JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  type Interceptor,
  type ServiceImpl,
  type ServiceImplSpec,
  createServiceImplSpec,
} from "@connectrpc/connect";
import {
  type Compression,
  type MethodSerializationLookup,
  compressionNegotiate,
  createMethodSerializationLookup,
  createMethodUrl,
  invokeUnaryImplementation,
  validateUniversalHandlerOptions,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  headerContentType,
  headerTimeout,
  headerUnaryAcceptEncoding,
  headerUnaryContentLength,
  headerUnaryEncoding,
  parseContentType,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RefusedRpc } from "../interceptors/index.js";
import { isObservedRpc } from "../observability/index.js";
import type { NodeRequest, NodeResponse } from "./probe-routes.js";
import { correctRefusal } from "./refused-rpcs.js";
import { requestIdHeader, requestIdKey } from "./request-id.js";
import { createUnaryCallFactory } from "./unary-call-context.js";
import { muxedNodeHeaders } from "./unary-response-headers.js";

/** A service and its implementation, served by both the fast path and connect's router. */
export interface ServiceRegistration {
  readonly service: DescService;
  /** The implementation as connect's method specs. */
  readonly spec: ServiceImplSpec;
  /** Registers the service on a connect router. */
  register(router: ConnectRouter): void;
}

/**
 * Pairs a service with its implementation, type-checked against each
 * other here, once, so that both request paths can take a plain list.
 *
 * @example
 * const registration = serviceRegistration(ModelService, createModelService({ catalog }));
 */
export function serviceRegistration<S extends DescService>(service: S, implementation: Partial<ServiceImpl<S>>): ServiceRegistration {
  return {
    service,
    spec: createServiceImplSpec(service, implementation),
    register: (router) => void router.service(service, implementation),
  };
}

/** The same settings the connect-node adapter gets, so both paths behave alike. */
export interface UnaryFastPathOptions {
  readonly services: readonly ServiceRegistration[];
  readonly interceptors: Interceptor[];
  readonly jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  readonly readMaxBytes: number;
  readonly maxTimeoutMs: number;
  readonly shutdownSignal: AbortSignal;
  readonly acceptCompression: readonly Compression[];
  readonly contextValues: (request: NodeRequest) => ContextValues;
  /** Called for a call that fails before the interceptors ran (as handleRefusedRpcs does for the adapter). */
  readonly onRefused?: (rpc: RefusedRpc) => void;
}

/**
 * Serves a request if it is on the fast path and returns true; returns
 * false (having touched nothing) for the connect-node adapter to serve.
 */
export type UnaryFastPath = (request: NodeRequest, response: NodeResponse) => boolean;

/** One unary method, ready to serve. */
interface FastMethod {
  readonly spec: Parameters<typeof invokeUnaryImplementation>[0];
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/** Connect's header names as Node gives them (lower case). */
const timeoutHeader = headerTimeout.toLowerCase();
const acceptEncodingHeader = headerUnaryAcceptEncoding.toLowerCase();
const contentLengthHeader = headerUnaryContentLength.toLowerCase();

/**
 * A fast path for the gateway's most common request: a unary Connect call
 * as an uncompressed HTTP/1.1 POST with a JSON or binary body — what curl,
 * browsers, `fetch` and most Connect clients send.
 *
 * Why: connect-node's adapter converts every Node request into a
 * "universal" request (WHATWG `Headers`, a parsed `URL`, the body as an
 * async iterable, an abort signal that is aborted, with a fresh
 * `DOMException`, when every response closes) and back, and that costs
 * several times a whole bare proxy hop per call (docs/benchmarks.md). This
 * path reads the body and writes the response with plain Node calls, and
 * reuses connect's own protocol pieces for everything that defines the
 * protocol's behaviour — content types, the timeout header, size limits,
 * message (de)serialisation, the interceptor chain, error JSON, HTTP
 * status codes, `trailer-` headers (as connect's `trailerMux` makes them,
 * see unary-response-headers.ts) and response compression — so a call
 * answers byte for byte as through the adapter
 * (test/e2e/unary-fast-path.test.ts compares the two). Each call's
 * HandlerContext comes from createUnaryCallFactory: one AbortController
 * per call where connect links three. Everything else (HTTP/2, GET,
 * streaming, compressed request bodies, unknown paths) returns false and
 * goes through the adapter.
 *
 * @example
 * const fastPath = createUnaryFastPath({ services, interceptors, jsonOptions, readMaxBytes, maxTimeoutMs, shutdownSignal, acceptCompression, contextValues });
 * const handler = (req, res) => fastPath(req, res) || adapter(req, res);
 */
export function createUnaryFastPath(options: UnaryFastPathOptions): UnaryFastPath {
  const limits = validateUniversalHandlerOptions({ readMaxBytes: options.readMaxBytes, maxTimeoutMs: options.maxTimeoutMs });
  const acceptCompression = [...options.acceptCompression];
  const calls = createUnaryCallFactory(options.shutdownSignal);
  const methods = new Map<string, FastMethod>();
  for (const { spec: serviceSpec } of options.services) {
    for (const spec of Object.values(serviceSpec.methods)) {
      if (spec.kind !== "unary") continue;
      methods.set(createMethodUrl("/", spec.method), {
        spec,
        serialization: createMethodSerializationLookup(spec.method, undefined, options.jsonOptions, limits),
      });
    }
  }

  return (request, response) => {
    if (request.httpVersionMajor !== 1 || request.method !== "POST") return false;
    const method = methods.get(request.url ?? "");
    if (method === undefined) return false;
    const headers = request.headers;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const type = parseContentType(headers["content-type"] ?? null);
    if (type === undefined || type.stream) return false;
    const host = headers.host;
    if (host === undefined) return false;
    const nodeResponse = response as ServerResponse;
    serveUnary(method, type.binary, `http://${host}${request.url ?? ""}`, request as IncomingMessage, nodeResponse).catch(() => {
      // Only a failure outside the call itself gets here (the call's own errors became responses): end the exchange.
      nodeResponse.destroy();
    });
    return true;
  };

  async function serveUnary(method: FastMethod, binary: boolean, url: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const headers = request.headers;
    const timeout = parseTimeout(headerValue(headers[timeoutHeader]), limits.maxTimeoutMs);
    const call = calls({
      method: method.spec.method,
      service: method.spec.method.parent,
      url,
      timeoutMs: timeout.timeoutMs,
      responseContentType: binary ? contentTypeUnaryProto : contentTypeUnaryJson,
      contextValues: options.contextValues(request),
      request,
      response,
    });
    const { context } = call;
    const compression = compressionNegotiate(
      acceptCompression,
      null,
      headerValue(headers[acceptEncodingHeader]),
      headerUnaryAcceptEncoding,
    );
    let status = 200;
    let body: Uint8Array;
    try {
      if (timeout.error !== undefined) throw timeout.error;
      const bytes = await readBody(request, limits.readMaxBytes);
      const input = method.serialization.getI(binary).parse(bytes);
      const output = await invokeUnaryImplementation(method.spec, context, input, options.interceptors);
      body = method.serialization.getO(binary).serialize(output);
    } catch (cause) {
      call.end(cause);
      let error = cause instanceof ConnectError ? cause : new ConnectError("internal error", Code.Internal, undefined, undefined, cause);
      if (!isObservedRpc(context.values)) {
        // A destroyed response means the client closed the connection: the answer has nobody to go to.
        error = correctRefusal(error, response.destroyed);
        const rpc = method.spec.method;
        options.onRefused?.({
          service: rpc.parent.typeName,
          method: rpc.name,
          requestHeader: context.requestHeader,
          error,
          durationMs: performance.now() - startedAt,
          requestId: context.values.get(requestIdKey),
        });
      }
      status = codeToHttpStatus(error.code);
      context.responseHeader.set(headerContentType, contentTypeUnaryJson);
      error.metadata.forEach((value, key) => context.responseHeader.set(key, value));
      body = errorToJsonBytes(error, options.jsonOptions);
    }
    // The call's signal aborts (quietly, "completed") once the answer is written, not before: nothing needs it
    // earlier, and the abort event is not free.
    try {
      if (compression.response !== null && body.byteLength >= limits.compressMinBytes) {
        body = await compression.response.compress(body);
        context.responseHeader.set(headerUnaryEncoding, compression.response.name);
      }
      if (response.destroyed) return;
      const nodeHeaders = muxedNodeHeaders(context.responseHeader, context.responseTrailer);
      nodeHeaders[contentLengthHeader] = String(body.byteLength);
      const requestId = context.values.get(requestIdKey);
      if (requestId !== undefined) nodeHeaders[requestIdHeader] = requestId;
      response.writeHead(status, nodeHeaders);
      response.end(body);
    } finally {
      call.end();
    }
  }
}

/**
 * Reads a request body up to `readMaxBytes`, with connect's errors: a
 * declared length over the limit is refused before reading, an undeclared
 * one as soon as it passes the limit.
 */
function readBody(request: IncomingMessage, readMaxBytes: number): Promise<Uint8Array> {
  const declared = request.headers["content-length"];
  const declaredLength = declared === undefined ? Number.NaN : Number.parseInt(declared, 10);
  if (declaredLength > readMaxBytes) {
    return Promise.reject(
      new ConnectError(`message size ${declaredLength} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted),
    );
  }
  // Inline listeners, never removed: the request dies with the call, and `settled` keeps late events quiet.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    request.on("data", (chunk: Buffer) => {
      if (settled) return;
      length += chunk.byteLength;
      if (length > readMaxBytes) {
        settled = true;
        request.resume();
        reject(new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
        return;
      }
      chunks.push(chunk);
    });
    request.once("end", () => {
      if (settled) return;
      settled = true;
      if (!Number.isNaN(declaredLength) && length !== declaredLength) {
        reject(new ConnectError(`protocol error: promised ${declaredLength} bytes, received ${length}`, Code.InvalidArgument));
        return;
      }
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    });
    request.once("error", (error: Error) => {
      if (settled) return;
      settled = true;
      reject(new ConnectError(error.message, Code.Aborted, undefined, undefined, error));
    });
    request.once("close", () => {
      if (settled) return;
      settled = true;
      reject(new ConnectError("the client closed the request before sending all of it", Code.Aborted));
    });
  });
}

/** One header's value, as connect reads it from `Headers.get()`. */
function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return typeof value === "string" ? value : value.join(", ");
}
