import { randomBytes as nodeRandomBytes } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { ArgumentsStatus } from "../../gen/protogate/v1/chat_pb.js";
import { InferenceService } from "../../gen/protogate/v1/inference_service_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { requestIdKey } from "../http/request-id.js";
import type { GatewayMetrics, RequestRecord } from "../observability/metrics.js";
import type { RequestLogger } from "../observability/request-logger.js";
import { type RequestObservation, createRequestObservation, requestObservationKey } from "../observability/request-observation.js";
import type { RollingStats } from "../observability/rolling-stats.js";
import { type RandomBytes, pooledRandomBytes } from "../observability/trace-context.js";

/** The header that tags a request with the client's session id. */
export const sessionIdHeader = "protogate-session-id";

/** What a session id may look like (the same rule as `ChatRequest.session_id`). */
const sessionIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** Options of createObservabilityInterceptor. */
export interface ObservabilityInterceptorOptions {
  readonly metrics: GatewayMetrics;
  /** Rolling 1/5/15-minute statistics (StatsService); fed with InferenceService requests. */
  readonly stats?: RollingStats;
  /** One log line per request; absent: no request log. */
  readonly logger?: RequestLogger;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Random bytes for span ids (default node:crypto, drawn 4 KiB at a time). */
  readonly randomBytes?: RandomBytes;
}

/**
 * The gateway's metrics, session tracking, statistics and request log in
 * one interceptor. Put it first in the interceptor list: being outermost,
 * it sees every outcome, validation failures included.
 *
 * For each RPC it counts the request in flight, reads the session id
 * (`protogate-session-id`; a non-empty `ChatRequest.session_id` wins, see
 * docs/operations.md) and the client's `traceparent`, and puts a
 * RequestObservation in the context values for the services to fill in.
 * When the RPC ends — for a server stream, when the response stream ends,
 * fails or is abandoned — it takes the duration, and once the answer is on
 * its way it records `protogate_requests_total` and the duration
 * histograms, the rolling statistics and the session, and writes one log
 * line. An invalid session header is `invalid_argument`.
 *
 * @example
 * connectNodeAdapter({ routes, interceptors: [createObservabilityInterceptor({ metrics, stats, logger }), createValidateInterceptor()] });
 */
export function createObservabilityInterceptor(options: ObservabilityInterceptorOptions): Interceptor {
  const { now, randomBytes } = sourcesOf(options);
  const { metrics } = options;
  // The same for every request: each gets the observation it concerns.
  const onFirstToken = (ttftMs: number, current: RequestObservation) =>
    metrics.observeFirstToken({ model: current.model, backend: current.backend, ttftMs });
  const onTokenGap = (gapMs: number, current: RequestObservation) =>
    metrics.observeInterTokenLatency({ model: current.model, backend: current.backend, gapMs });
  const onToolCall = (status: ArgumentsStatus, current: RequestObservation) => {
    if (status !== ArgumentsStatus.VALID_JSON_OBJECT) metrics.recordToolCallParseFailure({ model: current.model, status });
  };

  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const stopInFlight = metrics.startRequest({ service, method });
    const sessionHeader = req.header.get(sessionIdHeader);
    const sessionId = sessionIdOf(sessionHeader);
    const sessionHeaderValid = sessionHeader === null || sessionId !== undefined;
    const observation = createRequestObservation({
      now,
      randomBytes,
      traceparent: req.header.get("traceparent"),
      tracestate: req.header.get("tracestate"),
      sessionId,
      requestId: req.contextValues.get(requestIdKey),
      onFirstToken,
      onTokenGap,
      onToolCall,
    });
    req.contextValues.set(requestObservationKey, observation);
    // The model as a label even when the request fails validation before any service sees it.
    if (req.stream) req = { ...req, message: peek(req.message, (message) => noteModel(observation, message)) };
    else noteModel(observation, req.message);

    let finished = false;
    // Why a call ended early: a client that left, its deadline, or shutdown (the handler signal's reason).
    const abortReason = () => req.signal.reason ?? new ConnectError("request canceled", Code.Canceled);
    const finish = (error: unknown) => {
      if (finished) return;
      finished = true;
      if (onAbort !== undefined) req.signal.removeEventListener("abort", onAbort);
      stopInFlight();
      // A unary call has no abort listener (below): an abort that came before its end is its outcome all the same.
      const outcome = !req.stream && req.signal.aborted ? abortReason() : error;
      // The duration ends now; the bookkeeping waits until the answer is on its way (see record).
      setImmediate(record, options, service, method, observation, outcome, now() - observation.startedAt);
    };
    // A backstop for streams: connect aborts the handler signal when a call ends, also one whose stream was never
    // read. A unary call ends where it is awaited below, and a listener there would only cost (AbortSignals are dear).
    const onAbort = req.stream ? () => finish(abortReason()) : undefined;
    if (onAbort !== undefined) req.signal.addEventListener("abort", onAbort, { once: true });

    try {
      if (!sessionHeaderValid) {
        throw new ConnectError(`the ${sessionIdHeader} header must match ${sessionIdPattern.source}`, Code.InvalidArgument);
      }
      const res = await next(req);
      if (!res.stream) {
        finish(undefined);
        return res;
      }
      return { ...res, message: observeStream(res.message, finish) };
    } catch (error) {
      finish(error);
      throw error;
    }
  };
}

/**
 * An RPC that ended before the interceptors saw it: connect's protocol
 * layer refused its request (a message that does not decode, a bad
 * envelope, timeout header or compression, a message over the size limit)
 * before there was a message to hand them.
 */
export interface RefusedRpc {
  readonly service: string;
  readonly method: string;
  /** The request's headers: its session id and trace context count as for any RPC. */
  readonly requestHeader: Headers;
  /** The error the client was sent. */
  readonly error: ConnectError;
  /** From the request's arrival to the error being known. */
  readonly durationMs: number;
  /** The id the HTTP layer gave the request (requestIdKey), for the log line. */
  readonly requestId?: string | undefined;
}

/**
 * Records refused RPCs like every other: `protogate_requests_total` and
 * the duration histogram (model and backend `none`), the rolling
 * statistics, the session and the log line. Connect decodes a unary
 * request before it calls any interceptor, so without this a client
 * sending unknown JSON fields or garbage bytes would get its errors while
 * the gateway's metrics and log showed nothing (a server stream's request
 * is decoded inside the interceptors, and is recorded by them).
 *
 * @example
 * const recordRefused = createRefusedRpcRecorder({ metrics, stats, logger });
 * recordRefused({ service, method, requestHeader, error, durationMs });
 */
export function createRefusedRpcRecorder(options: ObservabilityInterceptorOptions): (rpc: RefusedRpc) => void {
  const { now, randomBytes } = sourcesOf(options);
  return (rpc) => {
    const observation = createRequestObservation({
      now,
      randomBytes,
      traceparent: rpc.requestHeader.get("traceparent"),
      tracestate: rpc.requestHeader.get("tracestate"),
      sessionId: sessionIdOf(rpc.requestHeader.get(sessionIdHeader)),
      requestId: rpc.requestId,
    });
    setImmediate(record, options, rpc.service, rpc.method, observation, rpc.error, rpc.durationMs);
  };
}

/**
 * Records a finished RPC. It runs with `setImmediate`, once the current
 * I/O work is done: for a unary call, after its answer was written.
 * Metrics, statistics, the session and the log line take tens of
 * microseconds per request, which would otherwise sit between the
 * backend's answer and the client's. What is recorded is fixed before:
 * the duration is measured when the RPC ended, and nothing changes the
 * observation after that.
 */
function record(
  options: ObservabilityInterceptorOptions,
  service: string,
  method: string,
  observation: RequestObservation,
  error: unknown,
  durationMs: number,
): void {
  const { metrics } = options;
  const code = error === undefined ? "ok" : ConnectError.from(error).code;
  const outcome: RequestRecord = {
    service,
    method,
    model: observation.model,
    backend: observation.backend,
    code,
    durationMs,
    upstreamMs: observation.attempts > 0 ? observation.upstreamMs : undefined,
    tokensIn: observation.tokensIn,
    tokensOut: observation.tokensOut,
  };
  metrics.recordRequest(outcome);
  if (error instanceof ConnectError && error.code === Code.InvalidArgument && error.findDetails(ViolationsSchema).length > 0) {
    metrics.recordRequestViolation({ service, method });
  }
  const inference = service === InferenceService.typeName;
  if (inference) {
    options.stats?.record({
      model: observation.model,
      backend: observation.backend,
      code,
      latencyMs: durationMs,
      ttftMs: observation.ttftMs,
      sessionId: observation.sessionId,
    });
  } else if (observation.sessionId !== undefined) {
    options.stats?.sessions.record({ sessionId: observation.sessionId, model: undefined, ok: code === "ok", code });
  }
  // Health probes would drown the log: only their failures are written.
  if (options.logger === undefined || (service === Health.typeName && (code === "ok" || code === Code.Canceled))) return;
  options.logger.logRequest({
    requestId: observation.requestId,
    sessionId: observation.sessionId,
    traceId: observation.trace.traceId,
    ttftMs: observation.ttftMs,
    retries: observation.retries,
    fallbackFrom: observation.fallbackFrom[0],
    error,
    // Last: on Node 20 a literal that starts with a spread gets a hidden class of its own (bench/hidden-classes.ts).
    ...outcome,
  });
}

/** The clock and the random source of the options, defaults filled in. */
function sourcesOf(options: ObservabilityInterceptorOptions): { now: () => number; randomBytes: RandomBytes } {
  return {
    now: options.now ?? (() => performance.now()),
    randomBytes: options.randomBytes ?? pooledRandomBytes((size) => nodeRandomBytes(size)),
  };
}

/** The session id a session header names; undefined when there is none or it is malformed. */
function sessionIdOf(header: string | null): string | undefined {
  return header !== null && sessionIdPattern.test(header) ? header : undefined;
}

/** Takes the request's `model` field as the observation's model label, unless one is set. */
function noteModel(observation: RequestObservation, message: unknown): void {
  const model = (message as { model?: unknown }).model;
  if (observation.model === undefined && typeof model === "string" && model !== "") observation.model = model;
}

/** Passes a request stream through, showing each message to `see` first. */
async function* peek<T>(messages: AsyncIterable<T>, see: (message: T) => void): AsyncIterable<T> {
  for await (const message of messages) {
    see(message);
    yield message;
  }
}

/**
 * Passes a response stream through and calls `finish` once when it ends:
 * with undefined after the last message, with the error when it fails, or
 * with `canceled` when the reader stops early (the client went away).
 */
function observeStream<T>(messages: AsyncIterable<T>, finish: (error: unknown) => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const inner = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await inner.next();
            if (result.done === true) finish(undefined);
            return result;
          } catch (error) {
            finish(error);
            throw error;
          }
        },
        async return(value?: unknown) {
          finish(new ConnectError("the client stopped reading the stream", Code.Canceled));
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(error?: unknown) {
          finish(error);
          if (inner.throw !== undefined) return inner.throw(error);
          throw error;
        },
      };
    },
  };
}
