/**
 * Reliability primitives for backend calls: the retry policy, a circuit
 * breaker and a concurrency limiter per backend. Pure or clock-injected;
 * no I/O. The request path wires them together (see each factory's docs).
 */
export {
  type FailureClassification,
  type GiveUpReason,
  type RetryDecision,
  type RetryInput,
  type RetryPolicy,
  type RetryPolicyOptions,
  type RetryReason,
  classifyFailure,
  createRetryPolicy,
  retryReasons,
} from "./retry-policy.js";
export {
  type BreakerOutcome,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStateChange,
  breakerOutcomeForError,
  createCircuitBreaker,
} from "./circuit-breaker.js";
export {
  type ConcurrencyLimiter,
  type ConcurrencyLimiterOptions,
  type LimiterGauges,
  type LimiterTimers,
  type Release,
  createConcurrencyLimiter,
  retryAfterMsHeader,
  retryAfterMsOf,
} from "./concurrency-limiter.js";
export {
  type ProgressWatchdog,
  type ProgressWatchdogOptions,
  createProgressWatchdog,
} from "./progress-watchdog.js";
export { type TimeoutSignal, createTimeoutSignal } from "./timeout-signal.js";
export { type RouteDeadline, createRouteDeadline } from "./route-deadline.js";
export {
  type BackendGuard,
  type BackendGuardSettings,
  type BackendGuards,
  type BackendGuardsOptions,
  circuitOpenError,
  createBackendGuards,
  isCircuitOpenError,
} from "./backend-guards.js";
