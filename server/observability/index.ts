/**
 * Operational signals: Prometheus metrics with bounded labels, error-free
 * session tracking, a live 1/5/15-minute summary, one structured log line
 * per request, and W3C trace context. Clock- and randomness-injected; the
 * only I/O is the request logger's destination.
 */
export { codeLabel, noneLabel, unknownLabel } from "./labels.js";
export {
  type GatewayMetrics,
  type GatewayMetricsOptions,
  type RequestRecord,
  createGatewayMetrics,
  defaultSandboxOutcomes,
  durationBucketsSeconds,
  interTokenBucketsSeconds,
  overheadBucketsSeconds,
  timeToFirstTokenBucketsSeconds,
} from "./metrics.js";
export {
  type ClosedSession,
  type ClosedSessionCounts,
  type SessionOutcome,
  type SessionRatios,
  type SessionRequest,
  type SessionTracker,
  type SessionTrackerOptions,
  createSessionTracker,
} from "./session-tracker.js";
export {
  type ModelSummary,
  type RollingStats,
  type RollingStatsOptions,
  type RollingStatsSample,
  type RollingSummary,
  type WindowName,
  type WindowSummary,
  createRollingStats,
  windowLengthsMs,
  windowNames,
} from "./rolling-stats.js";
export {
  type RequestLogEntry,
  type RequestLogger,
  type RequestLoggerOptions,
  createRequestLogger,
  redactedPaths,
} from "./request-logger.js";
export {
  type RandomBytes,
  type TraceContext,
  childSpan,
  formatTraceparent,
  isSampled,
  parseTraceparent,
  pooledRandomBytes,
  sampledFlag,
  upstreamTraceHeaders,
} from "./trace-context.js";
export {
  type RequestObservation,
  type RequestObservationOptions,
  createRequestObservation,
  isObservedRpc,
  requestObservationKey,
} from "./request-observation.js";
