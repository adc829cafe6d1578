import { Code, ConnectError } from "@connectrpc/connect";
import { type CircuitBreaker, type CircuitState, createCircuitBreaker } from "./circuit-breaker.js";
import { type ConcurrencyLimiter, type LimiterGauges, createConcurrencyLimiter, retryAfterMsHeader } from "./concurrency-limiter.js";

/** What guards one backend: its circuit breaker (unless disabled) and its concurrency limiter. */
export interface BackendGuard {
  readonly backendId: string;
  /** Undefined when the config disables the breaker. */
  readonly breaker: CircuitBreaker | undefined;
  readonly limiter: ConcurrencyLimiter;
  /** The breaker's cooldown, used as the retry hint of a skipped call. */
  readonly cooldownMs: number;
}

/** The settings of one backend's guard. */
export interface BackendGuardSettings {
  readonly backendId: string;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  /** Undefined: no breaker. */
  readonly breaker:
    | { readonly failureRatio: number; readonly minimumRequests: number; readonly windowMs: number; readonly cooldownMs: number }
    | undefined;
}

/** Options of createBackendGuards. */
export interface BackendGuardsOptions {
  readonly backends: readonly BackendGuardSettings[];
  /** Called on every breaker transition (and once per backend with "closed" at creation). */
  readonly onCircuitState?: (backendId: string, state: CircuitState) => void;
  /** Called on every change of a limiter's gauges (and once per backend with zeros at creation). */
  readonly onLimiter?: (backendId: string, gauges: LimiterGauges) => void;
  /** A monotonic clock for the breakers (default `performance.now`). */
  readonly now?: () => number;
}

/** The guards of every backend, by id. */
export interface BackendGuards {
  get(backendId: string): BackendGuard | undefined;
  all(): readonly BackendGuard[];
}

/**
 * Creates a breaker and a limiter per backend from the config.
 *
 * @example
 * const guards = createBackendGuards({ backends: [{ backendId: "llama", maxConcurrent: 4, maxQueue: 32, queueTimeoutMs: 10_000, breaker: undefined }] });
 * const release = await guards.get("llama")?.limiter.acquire(signal);
 */
export function createBackendGuards(options: BackendGuardsOptions): BackendGuards {
  const guards = new Map<string, BackendGuard>();
  for (const settings of options.backends) {
    const id = settings.backendId;
    const breaker =
      settings.breaker === undefined
        ? undefined
        : createCircuitBreaker({ ...settings.breaker, ...(options.now === undefined ? {} : { now: options.now }) });
    breaker?.onStateChange(({ to }) => options.onCircuitState?.(id, to));
    if (breaker !== undefined) options.onCircuitState?.(id, "closed");
    const limiter = createConcurrencyLimiter({
      name: id,
      maxConcurrent: settings.maxConcurrent,
      maxQueue: settings.maxQueue,
      queueTimeoutMs: settings.queueTimeoutMs,
      ...(options.onLimiter === undefined ? {} : { onChange: (gauges: LimiterGauges) => options.onLimiter?.(id, gauges) }),
    });
    options.onLimiter?.(id, { inFlight: 0, queued: 0 });
    guards.set(id, { backendId: id, breaker, limiter, cooldownMs: settings.breaker?.cooldownMs ?? 0 });
  }
  return {
    get: (backendId) => guards.get(backendId),
    all: () => [...guards.values()],
  };
}

const circuitOpenErrors = new WeakSet<ConnectError>();

/**
 * The error of a call the breaker did not let through: `unavailable`, no
 * BackendErrorDetail (so the retry policy never retries it on the same
 * backend), and the cooldown as a retry hint in `retry-after-ms` metadata.
 */
export function circuitOpenError(guard: BackendGuard): ConnectError {
  const error = new ConnectError(
    `backend "${guard.backendId}" is skipped for now: its circuit breaker opened after repeated failures`,
    Code.Unavailable,
    { [retryAfterMsHeader]: String(guard.cooldownMs), "retry-after": String(Math.ceil(guard.cooldownMs / 1000)) },
  );
  circuitOpenErrors.add(error);
  return error;
}

/** Whether an error is one made by circuitOpenError. */
export function isCircuitOpenError(error: unknown): boolean {
  return error instanceof ConnectError && circuitOpenErrors.has(error);
}
