import { randomUUID } from "node:crypto";
import { type ContextValues, createContextKey } from "@connectrpc/connect";
import type { ArgumentsStatus } from "../../gen/protogate/v1/chat_pb.js";
import { type RandomBytes, type TraceContext, childSpan, formatTraceparent, parseTraceparent } from "./trace-context.js";

/**
 * What one RPC learns about itself while it runs, for its metrics and its
 * log line. The observability interceptor creates it and puts it in the
 * context values; services and the upstream call fill it in; the
 * interceptor reads it when the RPC ends. Mutable on purpose: it is one
 * request's scratch pad, never shared between requests.
 */
export interface RequestObservation {
  /** When the RPC started (the observation's clock, milliseconds). */
  readonly startedAt: number;
  /** The request's id: its `protogate-request-id` header, its log line's `request_id`, a Chat answer's `chat-<id>`. */
  readonly requestId: string;
  /** The gateway's own span: a child of the client's `traceparent`, or a new trace. */
  readonly trace: TraceContext;
  /** The client's session id: the request field if set, else the `protogate-session-id` header. */
  sessionId: string | undefined;
  /** The model as a label: the id the request resolved to, else the requested name. */
  model: string | undefined;
  /** The backend that served, or the last one that failed. */
  backend: string | undefined;
  /** Time in backend calls, all attempts, in milliseconds. */
  upstreamMs: number;
  /** Time from the start to the first generated token, for streams. */
  ttftMs: number | undefined;
  tokensIn: number | undefined;
  tokensOut: number | undefined;
  /** Backend calls made. */
  attempts: number;
  /** Retries among them. */
  retries: number;
  /** Models (`backend/model`) tried or skipped before the one that answered. */
  readonly fallbackFrom: string[];
  /** Marks a streamed token (or chunk) at `at`; the first one sets `ttftMs`. */
  token(at: number): void;
  /** Counts a finished tool call by its arguments status. */
  toolCall(status: ArgumentsStatus): void;
  /** Headers for one upstream call: `traceparent` of a new child span, and `tracestate` passed on. */
  upstreamHeaders(): Record<string, string>;
}

/** Options of createRequestObservation. */
export interface RequestObservationOptions {
  readonly now: () => number;
  readonly randomBytes: RandomBytes;
  /** The client's `traceparent` and `tracestate` headers. */
  readonly traceparent?: string | null | undefined;
  readonly tracestate?: string | null | undefined;
  readonly sessionId?: string | undefined;
  /** The id the HTTP layer gave the request (requestIdKey); default: a new random UUID (in-process calls). */
  readonly requestId?: string | undefined;
  /** Called at the first token, with the time since the start. */
  readonly onFirstToken?: (ttftMs: number, observation: RequestObservation) => void;
  /** Called for every token after the first, with the gap to the previous one. */
  readonly onTokenGap?: (gapMs: number, observation: RequestObservation) => void;
  /** Called for every finished tool call. */
  readonly onToolCall?: (status: ArgumentsStatus, observation: RequestObservation) => void;
}

/**
 * Creates the observation of one RPC.
 *
 * @example
 * const observation = createRequestObservation({ now, randomBytes, traceparent: header.get("traceparent") });
 * req.contextValues.set(requestObservationKey, observation);
 */
export function createRequestObservation(options: RequestObservationOptions): RequestObservation {
  const incoming = parseTraceparent(options.traceparent);
  const trace = childSpan(incoming, options.randomBytes);
  const tracestate = incoming === undefined ? undefined : options.tracestate?.trim();
  let lastToken: number | undefined;
  const observation: RequestObservation = {
    startedAt: options.now(),
    requestId: options.requestId ?? randomUUID(),
    trace,
    sessionId: options.sessionId,
    model: undefined,
    backend: undefined,
    upstreamMs: 0,
    ttftMs: undefined,
    tokensIn: undefined,
    tokensOut: undefined,
    attempts: 0,
    retries: 0,
    fallbackFrom: [],
    token(at) {
      if (lastToken === undefined) {
        observation.ttftMs = at - observation.startedAt;
        options.onFirstToken?.(observation.ttftMs, observation);
      } else {
        options.onTokenGap?.(at - lastToken, observation);
      }
      lastToken = at;
    },
    toolCall(status) {
      options.onToolCall?.(status, observation);
    },
    upstreamHeaders() {
      const headers: Record<string, string> = { traceparent: formatTraceparent(childSpan(trace, options.randomBytes)) };
      if (tracestate !== undefined && tracestate !== "") headers.tracestate = tracestate;
      return headers;
    },
  };
  return observation;
}

/**
 * The context key of the current RPC's observation. Undefined when no
 * observability interceptor runs (unit tests over a router transport).
 */
export const requestObservationKey = createContextKey<RequestObservation | undefined>(undefined, {
  description: "protogate request observation",
});

/**
 * Whether the observability interceptor took up the RPC that has these
 * context values (it puts its observation there before anything else).
 * False for an RPC whose request connect refused before any interceptor
 * ran; see createRefusedRpcRecorder.
 */
export function isObservedRpc(values: ContextValues): boolean {
  return values.get(requestObservationKey) !== undefined;
}
