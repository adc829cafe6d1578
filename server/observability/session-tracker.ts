import type { Code } from "@connectrpc/connect";

/** How a session went: no request failed, or at least one did. */
export type SessionOutcome = "error_free" | "with_errors";

/** One request of a session, as `record` takes it. */
export interface SessionRequest {
  /** The client's session id (e.g. a header); ids longer than 128 characters are cut to 128. */
  readonly sessionId: string;
  /** The model the request used (a bounded label, not free client text, is best). */
  readonly model: string | undefined;
  /** Whether the request succeeded. */
  readonly ok: boolean;
  /** "ok", or the Connect code of the failure; the first failure's code is kept. */
  readonly code: Code | "ok";
}

/** A session that ended, as given to `onSessionClosed` listeners. */
export interface ClosedSession {
  readonly sessionId: string;
  readonly outcome: SessionOutcome;
  /** `idle`: no request for `idleMs`; `evicted`: closed early because `maxSessions` was reached. */
  readonly reason: "idle" | "evicted";
  readonly requests: number;
  readonly failedRequests: number;
  /** The code of the first failed request, if any. */
  readonly firstErrorCode: Code | undefined;
  /** Clock time of the first and the last request. */
  readonly startedAt: number;
  readonly lastSeenAt: number;
}

/** Counts of closed sessions since the tracker was created. */
export interface ClosedSessionCounts {
  readonly errorFree: number;
  readonly withErrors: number;
  /** Sessions among the above that were evicted rather than idle. */
  readonly evicted: number;
}

/** Error-free ratios for several windows at once, overall and per model. */
export interface SessionRatios {
  /** One entry per requested window; undefined when no session was active in it. */
  readonly overall: readonly (number | undefined)[];
  readonly byModel: ReadonlyMap<string, readonly (number | undefined)[]>;
}

/** Options of createSessionTracker. */
export interface SessionTrackerOptions {
  /** A session closes after this long without a request, in milliseconds (default 30 min). */
  readonly idleMs?: number;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Most sessions kept; beyond it the least recently active one is closed (default 100 000). */
  readonly maxSessions?: number;
  /** Most models tracked per session for per-model ratios (default 16); the session outcome is always exact. */
  readonly maxModelsPerSession?: number;
}

/**
 * Tracks sessions (a client conversation spanning many RPCs) to measure
 * the share that ran without a single failed request: the user-facing
 * reliability number, which per-request error rates understate.
 *
 * Sessions close lazily: `record` and `sweep` close the ones idle for
 * `idleMs`; call `sweep()` periodically (e.g. before each metrics scrape)
 * so counters advance when traffic stops. No timers run inside.
 */
export interface SessionTracker {
  /** Adds one request to its session, opening the session if needed. */
  record(request: SessionRequest): void;
  /** Closes idle sessions now; returns how many closed. */
  sweep(): number;
  /** Sessions open now. */
  active(): number;
  /** Closed sessions by outcome. */
  closed(): ClosedSessionCounts;
  /**
   * The share of error-free sessions among those with a request in the
   * last `windowMs` (for `model`: a request to that model, judged on that
   * model's requests only); undefined when there were none. Exact for
   * windows up to `idleMs`: longer windows only see sessions still open.
   */
  ratio(windowMs: number, options?: { readonly model?: string; readonly now?: number }): number | undefined;
  /** `ratio` for several windows, overall and for every model, in one pass. */
  ratios(windowsMs: readonly number[], now?: number): SessionRatios;
  /** Calls `listener` for every closed session. Returns an unsubscribe function. */
  onSessionClosed(listener: (session: ClosedSession) => void): () => void;
}

interface SessionState {
  readonly startedAt: number;
  lastSeenAt: number;
  requests: number;
  failedRequests: number;
  firstErrorCode: Code | undefined;
  readonly models: Map<string, { lastSeenAt: number; failed: boolean }>;
}

const maxSessionIdLength = 128;

/**
 * Creates a session tracker. Memory is bounded by `maxSessions` entries of
 * at most `maxModelsPerSession` models each; sessions live in a Map kept in
 * order of last activity, so idle closing and eviction cost O(1) each.
 *
 * @example
 * const sessions = createSessionTracker({ idleMs: 30 * 60_000 });
 * sessions.onSessionClosed((s) => metrics.recordSessionClosed(s.outcome, { evicted: s.reason === "evicted" }));
 * sessions.record({ sessionId, model: "qwen", ok: code === "ok", code });
 */
export function createSessionTracker(options: SessionTrackerOptions = {}): SessionTracker {
  const idleMs = options.idleMs ?? 30 * 60_000;
  const now = options.now ?? (() => performance.now());
  const maxSessions = Math.max(1, options.maxSessions ?? 100_000);
  const maxModels = Math.max(0, options.maxModelsPerSession ?? 16);
  const sessions = new Map<string, SessionState>();
  const listeners = new Set<(session: ClosedSession) => void>();
  let errorFree = 0;
  let withErrors = 0;
  let evicted = 0;

  function close(sessionId: string, state: SessionState, reason: ClosedSession["reason"]): void {
    sessions.delete(sessionId);
    const outcome: SessionOutcome = state.failedRequests === 0 ? "error_free" : "with_errors";
    if (outcome === "error_free") errorFree += 1;
    else withErrors += 1;
    if (reason === "evicted") evicted += 1;
    if (listeners.size === 0) return;
    const closed: ClosedSession = {
      sessionId,
      outcome,
      reason,
      requests: state.requests,
      failedRequests: state.failedRequests,
      firstErrorCode: state.firstErrorCode,
      startedAt: state.startedAt,
      lastSeenAt: state.lastSeenAt,
    };
    for (const listener of [...listeners]) listener(closed);
  }

  function sweepAt(at: number): number {
    let count = 0;
    // Oldest activity first; stop at the first session that is still live.
    for (const [sessionId, state] of sessions) {
      if (at - state.lastSeenAt < idleMs) break;
      close(sessionId, state, "idle");
      count += 1;
    }
    return count;
  }

  function ratiosAt(windowsMs: readonly number[], at: number): SessionRatios {
    const overallTotals = windowsMs.map(() => ({ sessions: 0, errorFree: 0 }));
    const modelTotals = new Map<string, { sessions: number; errorFree: number }[]>();
    for (const state of sessions.values()) {
      const age = at - state.lastSeenAt;
      windowsMs.forEach((windowMs, index) => {
        const totals = overallTotals[index];
        if (totals === undefined || age > windowMs) return;
        totals.sessions += 1;
        if (state.failedRequests === 0) totals.errorFree += 1;
      });
      for (const [model, usage] of state.models) {
        const modelAge = at - usage.lastSeenAt;
        let perWindow = modelTotals.get(model);
        windowsMs.forEach((windowMs, index) => {
          if (modelAge > windowMs) return;
          perWindow ??= windowsMs.map(() => ({ sessions: 0, errorFree: 0 }));
          modelTotals.set(model, perWindow);
          const totals = perWindow[index];
          if (totals === undefined) return;
          totals.sessions += 1;
          if (!usage.failed) totals.errorFree += 1;
        });
      }
    }
    const toRatio = ({ sessions: total, errorFree: good }: { sessions: number; errorFree: number }) =>
      total === 0 ? undefined : good / total;
    const byModel = new Map<string, (number | undefined)[]>();
    for (const [model, perWindow] of modelTotals) byModel.set(model, perWindow.map(toRatio));
    return { overall: overallTotals.map(toRatio), byModel };
  }

  return {
    record(request) {
      const at = now();
      sweepAt(at);
      const sessionId = request.sessionId.slice(0, maxSessionIdLength);
      let state = sessions.get(sessionId);
      if (state === undefined) {
        state = { startedAt: at, lastSeenAt: at, requests: 0, failedRequests: 0, firstErrorCode: undefined, models: new Map() };
      } else {
        sessions.delete(sessionId); // re-inserted below: the Map stays ordered by last activity
      }
      sessions.set(sessionId, state);
      state.lastSeenAt = at;
      state.requests += 1;
      if (!request.ok) {
        state.failedRequests += 1;
        if (state.firstErrorCode === undefined && request.code !== "ok") state.firstErrorCode = request.code;
      }
      if (request.model !== undefined) {
        const usage = state.models.get(request.model);
        if (usage !== undefined) {
          usage.lastSeenAt = at;
          if (!request.ok) usage.failed = true;
        } else if (state.models.size < maxModels) {
          state.models.set(request.model, { lastSeenAt: at, failed: !request.ok });
        }
      }
      while (sessions.size > maxSessions) {
        const oldest = sessions.entries().next();
        if (oldest.done === true) break;
        close(oldest.value[0], oldest.value[1], "evicted");
      }
    },

    sweep: () => sweepAt(now()),
    active: () => sessions.size,
    closed: () => ({ errorFree, withErrors, evicted }),

    ratio(windowMs, ratioOptions) {
      const { overall, byModel } = ratiosAt([windowMs], ratioOptions?.now ?? now());
      return ratioOptions?.model === undefined ? overall[0] : byModel.get(ratioOptions.model)?.[0];
    },

    ratios: (windowsMs, at) => ratiosAt(windowsMs, at ?? now()),

    onSessionClosed(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
