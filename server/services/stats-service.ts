import { type MessageInitShape, create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type BackendStatsSchema,
  CircuitState,
  GetStatsResponseSchema,
  type ModelStatsSchema,
  type StatsService,
} from "../../gen/protogate/v1/stats_service_pb.js";
import { type ModelSummary, type RollingStats, windowLengthsMs, windowNames } from "../observability/rolling-stats.js";
import type { CircuitState as BreakerState } from "../reliability/circuit-breaker.js";

/** One backend's live state, as the stats service reports it. */
export interface BackendLiveState {
  readonly id: string;
  readonly up: boolean;
  readonly ready: boolean;
  readonly detail: string;
  /** Undefined when the backend has no breaker. */
  readonly circuit: BreakerState | undefined;
  readonly inFlight: number;
  readonly queued: number;
}

/** Options of createStatsService. */
export interface StatsServiceOptions {
  readonly stats: RollingStats;
  /** The backends' live state, in config order. */
  readonly backends: () => readonly BackendLiveState[];
  /** A monotonic clock in milliseconds (default `performance.now`); uptime counts from the service's creation. */
  readonly now?: () => number;
}

const circuitStates: Readonly<Record<BreakerState, CircuitState>> = {
  closed: CircuitState.CLOSED,
  "half-open": CircuitState.HALF_OPEN,
  open: CircuitState.OPEN,
};

/**
 * Implements protogate.v1.StatsService from the rolling statistics, the
 * session tracker and the backends' live state. Side-effect free, so it is
 * also served as a Connect GET.
 *
 * @example
 * router.service(StatsService, createStatsService({ stats, backends: () => liveStates() }));
 */
export function createStatsService(options: StatsServiceOptions): ServiceImpl<typeof StatsService> {
  const now = options.now ?? (() => performance.now());
  const startedAt = now();
  return {
    getStats(request) {
      const summary = options.stats.summary();
      const sessions = options.stats.sessions;
      sessions.sweep();
      const closed = sessions.closed();
      const models = summary.models.filter((model) => request.model === "" || model.model === request.model);
      return create(GetStatsResponseSchema, {
        overall: toModelStats(summary.overall),
        models: models.map(toModelStats),
        sessions: {
          active: BigInt(sessions.active()),
          closedErrorFree: BigInt(closed.errorFree),
          closedWithErrors: BigInt(closed.withErrors),
        },
        backends: options.backends().map(toBackendStats),
        uptimeSeconds: (now() - startedAt) / 1000,
      });
    },
  };
}

function toModelStats(model: ModelSummary): MessageInitShape<typeof ModelStatsSchema> {
  return {
    model: model.model,
    backends: [...model.backends],
    windows: windowNames.map((name) => {
      const window = model.windows[name];
      return {
        windowSeconds: windowLengthsMs[name] / 1000,
        requests: BigInt(window.requests),
        requestsPerSecond: window.ratePerSecond,
        ...optional("latencyP50Ms", window.latencyP50Ms),
        ...optional("latencyP95Ms", window.latencyP95Ms),
        ...optional("ttftP50Ms", window.ttftP50Ms),
        ...optional("ttftP95Ms", window.ttftP95Ms),
        ...optional("errorRate", window.errorRate),
        ...optional("errorFreeSessionRatio", window.errorFreeSessionRatio),
        errorsByCode: Object.fromEntries(Object.entries(window.errorsByCode).map(([code, count]) => [code, BigInt(count)])),
      };
    }),
  };
}

function toBackendStats(backend: BackendLiveState): MessageInitShape<typeof BackendStatsSchema> {
  return {
    id: backend.id,
    up: backend.up,
    ready: backend.ready,
    detail: backend.detail,
    circuit: backend.circuit === undefined ? CircuitState.UNSPECIFIED : circuitStates[backend.circuit],
    inFlight: backend.inFlight,
    queued: backend.queued,
  };
}

/** `{ [key]: value }` when value is a number, else nothing: proto3 optional fields stay unset without data. */
function optional<K extends string>(key: K, value: number | null): { [P in K]?: number } {
  return value === null ? {} : ({ [key]: value } as { [P in K]?: number });
}
