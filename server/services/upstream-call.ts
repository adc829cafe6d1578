import { setTimeout as delay } from "node:timers/promises";
import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatRequest } from "../../gen/protogate/v1/inference_service_pb.js";
import type { Backend, BackendChatResult, BackendStreamEvent, MappingWarning, PreparedChat } from "../backends/backend.js";
import type { ModelCatalog } from "../catalog/model-catalog.js";
import type { RoutePolicy } from "../config/resolved-config.js";
import type { RequestObservation } from "../observability/request-observation.js";
import { type BackendGuards, circuitOpenError, isCircuitOpenError } from "../reliability/backend-guards.js";
import { type BreakerOutcome, breakerOutcomeForError } from "../reliability/circuit-breaker.js";
import { createProgressWatchdog } from "../reliability/progress-watchdog.js";
import { type RetryPolicy, type RetryReason, classifyFailure, createRetryPolicy } from "../reliability/retry-policy.js";
import { createRouteDeadline } from "../reliability/route-deadline.js";
import { createTimeoutSignal } from "../reliability/timeout-signal.js";
import type { RoutedModel } from "../routing/model-router.js";
import type { RoutePolicies } from "../routing/route-policy.js";

/** The backend calls one answer took: what `Attempts` in the contract reports. */
export interface AttemptsReport {
  readonly count: number;
  readonly retries: number;
  /** `backend/model` of each target tried or skipped before the one that answered. */
  readonly fallbackFrom: readonly string[];
}

/** A unary answer and who gave it. */
export interface UnaryOutcome {
  readonly served: RoutedModel;
  readonly prepared: PreparedChat<BackendChatResult>;
  readonly attempts: AttemptsReport;
  /** When the successful attempt started (the caller's clock). */
  readonly upstreamStarted: number;
}

/**
 * A stream whose backend has produced its first event. Nothing has been
 * sent to the client yet; from here on a failure ends the stream.
 */
export interface StreamOutcome {
  readonly served: RoutedModel;
  readonly warnings: readonly MappingWarning[];
  /**
   * Every event, the first one included. The caller must end it — read it
   * to the end, or call `return()` (a `for await` that exits early does) —
   * so the backend slot is freed and the breaker hears the outcome.
   */
  readonly events: AsyncIterableIterator<BackendStreamEvent>;
  readonly attempts: AttemptsReport;
  readonly upstreamStarted: number;
}

/** Hooks for the metrics of retries and fallbacks. */
export interface UpstreamCallEvents {
  retry(backendId: string, reason: RetryReason): void;
  fallback(fromBackendId: string, toBackendId: string): void;
}

/** Options of createUpstreamCaller. */
export interface UpstreamCallerOptions {
  readonly catalog: ModelCatalog;
  readonly guards: BackendGuards;
  readonly routes: RoutePolicies;
  readonly events?: UpstreamCallEvents;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Source of retry jitter (default Math.random). */
  readonly random?: () => number;
}

/**
 * Calls backends with the gateway's reliability policies: a deadline
 * (the client's, cut to the route's `maxDeadlineMs`), the breaker and the
 * concurrency limit of each backend, retries with backoff for transient
 * failures, a fallback chain across backends and models, and for streams a
 * time-to-first-token and a stall limit. Everything that can be retried is
 * retried before any byte reaches the client; after that, never.
 * `observation` is the RPC's own: attempts, retries and fallbacks are
 * counted into it, and the AttemptsReport is read back from it.
 */
export interface UpstreamCaller {
  /** Unary Chat: every failure happens before the answer, so all are candidates for a retry or fallback. */
  chat(request: ChatRequest, primary: RoutedModel, context: HandlerContext, observation: RequestObservation): Promise<UnaryOutcome>;
  /** ChatStream: resolves once a backend produced its first event. */
  chatStream(request: ChatRequest, primary: RoutedModel, context: HandlerContext, observation: RequestObservation): Promise<StreamOutcome>;
}

/** How an attempt ended, for its breaker and its slot. */
type AttemptEnd = { readonly kind: "ok" } | { readonly kind: "error"; readonly error: unknown } | { readonly kind: "abandoned" };

/** What one attempt gets to work with. */
interface AttemptCall {
  /** The target's backend, looked up once per attempt. */
  readonly backend: Backend;
  readonly signal: AbortSignal;
  readonly headers: Readonly<Record<string, string>>;
}

/** A successful attempt whose slot and breaker outcome are still open. */
interface Lease<T> {
  readonly value: T;
  readonly target: RoutedModel;
  readonly started: number;
  readonly attempts: AttemptsReport;
  end(how: AttemptEnd): void;
}

/**
 * Creates the upstream caller.
 *
 * @example
 * const upstream = createUpstreamCaller({ catalog, guards, routes: createRoutePolicies(config.routes ?? [], defaultRoutePolicy) });
 * const { served, prepared } = await upstream.chat(request, model, context, observation);
 */
export function createUpstreamCaller(options: UpstreamCallerOptions): UpstreamCaller {
  const now = options.now ?? (() => performance.now());
  const retryPolicies = new WeakMap<RoutePolicy, RetryPolicy>();

  function retryPolicyOf(policy: RoutePolicy): RetryPolicy {
    let retry = retryPolicies.get(policy);
    if (retry === undefined) {
      retry = createRetryPolicy({ ...policy.retry, ...(options.random === undefined ? {} : { random: options.random }) });
      retryPolicies.set(policy, retry);
    }
    return retry;
  }

  /** The primary, then each resolvable fallback, without duplicates. */
  function targetsFor(primary: RoutedModel, policy: RoutePolicy): RoutedModel[] {
    const targets = [primary];
    if (policy.fallbacks.length === 0) return targets;
    const seen = new Set([qualifiedName(primary)]);
    const table = options.catalog.table();
    for (const name of policy.fallbacks) {
      const resolution = table.resolve(name);
      if (resolution.kind !== "found" || seen.has(qualifiedName(resolution.model))) continue;
      seen.add(qualifiedName(resolution.model));
      targets.push(resolution.model);
    }
    return targets;
  }

  async function execute<T>(
    request: ChatRequest,
    primary: RoutedModel,
    context: HandlerContext,
    observation: RequestObservation,
    attempt: (target: RoutedModel, call: AttemptCall, policy: RoutePolicy) => Promise<T>,
  ): Promise<Lease<T>> {
    const policy = options.routes.policyFor({ requested: request.model, id: primary.id, qualified: qualifiedName(primary) });
    const retryPolicy = retryPolicyOf(policy);
    const clientRemaining = context.timeoutMs();
    const budgetMs = clientRemaining === undefined ? policy.maxDeadlineMs : Math.min(clientRemaining, policy.maxDeadlineMs);
    const deadlineAt = now() + budgetMs;
    // The route's deadline, when it is the shorter one. connect enforces the client's own.
    const routeDeadline =
      clientRemaining !== undefined && clientRemaining <= policy.maxDeadlineMs
        ? undefined
        : createRouteDeadline(context.signal, deadlineAt, policy.maxDeadlineMs, now);
    const targets = targetsFor(primary, policy);
    let lastFailure: unknown;
    let lastSkip: unknown;

    try {
      for (const [index, target] of targets.entries()) {
        const previous = targets[index - 1];
        if (previous !== undefined) {
          observation.fallbackFrom.push(qualifiedName(previous));
          options.events?.fallback(previous.backendId, target.backendId);
        }
        const entry = options.catalog.backend(target.backendId);
        const guard = options.guards.get(target.backendId);
        if (entry === undefined || guard === undefined) {
          lastFailure = new ConnectError(`backend "${target.backendId}" is not configured`, Code.Internal);
          continue;
        }
        observation.backend = target.backendId;
        for (let attemptOnTarget = 1; ; attemptOnTarget++) {
          throwIfAborted(context.signal);
          routeDeadline?.throwIfPassed();
          if (guard.breaker !== undefined && !guard.breaker.canRequest()) {
            lastSkip = circuitOpenError(guard);
            break;
          }
          let release: () => void;
          try {
            // A free slot is taken at once; only a wait in the queue needs a signal that also ends at the route's deadline.
            release = guard.limiter.tryAcquire() ?? (await guard.limiter.acquire(routeDeadline?.waitSignal() ?? context.signal));
          } catch (error) {
            guard.breaker?.record("ignored");
            if (error instanceof ConnectError && error.code === Code.ResourceExhausted) {
              lastSkip = error;
              break;
            }
            throw error;
          }
          observation.attempts++;
          const started = now();
          // One timer for the attempt: the backend's time limit, or what is left of the route's deadline when that is shorter.
          const limit = routeDeadline?.endsWithin(entry.timeoutMs)
            ? routeDeadline.attemptLimit()
            : createTimeoutSignal(context.signal, entry.timeoutMs, `the backend did not answer within ${entry.timeoutMs} ms`);
          let ended = false;
          const end = (how: AttemptEnd) => {
            if (ended) return;
            ended = true;
            limit.dispose();
            release();
            observation.upstreamMs += now() - started;
            guard.breaker?.record(breakerOutcome(how));
          };
          try {
            const value = await attempt(target, { backend: entry.backend, signal: limit.signal, headers: observation.upstreamHeaders() }, policy);
            // The request's observation counted every attempt, retry and fallback of this call.
            const attempts = { count: observation.attempts, retries: observation.retries, fallbackFrom: observation.fallbackFrom };
            // The attempt's timer, which a stream keeps until its lease ends, also holds the route's deadline.
            routeDeadline?.disposeWaits();
            return { value, target, started, attempts, end };
          } catch (error) {
            end({ kind: "error", error });
            if (context.signal.aborted) throw abortError(context.signal.reason, error);
            routeDeadline?.throwIfPassed(limit.signal);
            lastFailure = error;
            const remaining = deadlineAt - now();
            const decision = retryPolicy.decide({ error, attempt: attemptOnTarget, bytesSentToClient: false, deadlineRemainingMs: remaining });
            if (decision.kind === "retry") {
              observation.retries++;
              options.events?.retry(target.backendId, decision.reason);
              await sleep(decision.delayMs, routeDeadline?.waitSignal() ?? context.signal);
              continue;
            }
            if (!canFallBack(error)) throw error;
            break;
          }
        }
      }
      throw lastFailure ?? lastSkip ?? new ConnectError("no backend could serve the request", Code.Unavailable);
    } catch (error) {
      routeDeadline?.disposeWaits();
      throw error;
    }
  }

  return {
    async chat(request, primary, context, observation) {
      const lease = await execute(request, primary, context, observation, (target, call) =>
        call.backend.chat(request, { backendModel: target.name, signal: call.signal, headers: call.headers }),
      );
      lease.end({ kind: "ok" });
      return { served: lease.target, prepared: lease.value, attempts: lease.attempts, upstreamStarted: lease.started };
    },

    async chatStream(request, primary, context, observation) {
      const lease = await execute(request, primary, context, observation, async (target, call, policy) => {
        const watchdog = createProgressWatchdog(call.signal, {
          firstEventMs: policy.ttftTimeoutMs,
          idleMs: policy.streamIdleTimeoutMs,
          firstEventReason: () => {
            const error = progressTimeout(
              `backend "${target.backendId}" produced no token within the ${policy.ttftTimeoutMs} ms time-to-first-token limit`,
            );
            firstTokenTimeouts.add(error);
            return error;
          },
          idleReason: () =>
            progressTimeout(`backend "${target.backendId}" stalled: no event for ${policy.streamIdleTimeoutMs} ms`),
          // The client's doing, not the backend's: no TimeoutError cause, so the circuit breaker ignores it.
          readerIdleReason: () =>
            new ConnectError(`the client read nothing for ${policy.streamIdleTimeoutMs} ms; the backend call was stopped`, Code.DeadlineExceeded),
        });
        try {
          const prepared = await call.backend.chatStream(request, { backendModel: target.name, signal: watchdog.signal, headers: call.headers });
          const iterator = prepared.result[Symbol.asyncIterator]();
          const first = await iterator.next();
          watchdog.progress();
          return { warnings: prepared.warnings, iterator, first, watchdog };
        } catch (error) {
          watchdog.dispose();
          throw error;
        }
      });
      const { iterator, first, watchdog } = lease.value;
      let pending: IteratorResult<BackendStreamEvent> | undefined = first;
      let sawFinish = false;
      let closed = false;
      const close = (how: AttemptEnd) => {
        if (closed) return;
        closed = true;
        watchdog.dispose();
        lease.end(how);
        if (how.kind === "abandoned") void iterator.return?.()?.catch(() => undefined);
      };
      // A hand-written iterator, not a generator: `return()` must free the slot even when
      // the caller never started iterating (a generator that never ran skips its finally).
      const events: AsyncIterableIterator<BackendStreamEvent> = {
        [Symbol.asyncIterator]() {
          return events;
        },
        async next() {
          if (closed) return { done: true, value: undefined };
          try {
            let result: IteratorResult<BackendStreamEvent>;
            if (pending === undefined) {
              watchdog.awaiting();
              result = await iterator.next();
              watchdog.progress();
            } else {
              result = pending;
              pending = undefined;
            }
            if (result.done === true) close({ kind: "ok" });
            else if (result.value.kind === "finish") sawFinish = true;
            return result;
          } catch (error) {
            close({ kind: "error", error });
            throw error;
          }
        },
        async return() {
          close(sawFinish ? { kind: "ok" } : { kind: "abandoned" });
          return { done: true, value: undefined };
        },
      };

      return { served: lease.target, warnings: lease.value.warnings, events, attempts: lease.attempts, upstreamStarted: lease.started };
    },
  };
}

/** `backend/model`: the name that picks one backend's model. */
export function qualifiedName(model: RoutedModel): string {
  return `${model.backendId}/${model.name}`;
}

/**
 * Whether, once retries on one target are over, the next target of the
 * fallback chain may be tried: transient backend failures (no answer,
 * 502/503/504, 429, loading), a time-to-first-token timeout, an open
 * circuit or a full queue. Errors about the request itself never fall back.
 */
function canFallBack(error: unknown): boolean {
  if (isCircuitOpenError(error)) return true;
  if (error instanceof ConnectError && firstTokenTimeouts.has(error)) return true;
  return classifyFailure(error).kind === "retryable";
}

function breakerOutcome(how: AttemptEnd): BreakerOutcome {
  switch (how.kind) {
    case "ok":
      return "success";
    case "abandoned":
      return "ignored";
    case "error":
      return breakerOutcomeForError(how.error);
  }
}

/**
 * A time-to-first-token or stall timeout: deadline_exceeded, with a
 * `TimeoutError` cause so the breaker counts it as the backend's failure.
 */
function progressTimeout(message: string): ConnectError {
  return new ConnectError(message, Code.DeadlineExceeded, undefined, undefined, new DOMException(message, "TimeoutError"));
}

/** Time-to-first-token timeouts made here: they may fall back, stalls may not. */
const firstTokenTimeouts = new WeakSet<ConnectError>();

/** The request's own abort reason wins over what the aborted call made of it. */
function abortError(reason: unknown, fallback: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  return fallback instanceof ConnectError ? fallback : ConnectError.from(reason, Code.Canceled);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal.reason, undefined);
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  // node:timers/promises only rejects on abort, with a generic AbortError.
  await delay(ms, undefined, { signal }).catch(() => {
    throw abortError(signal.reason, undefined);
  });
}
