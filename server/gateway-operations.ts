import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Interceptor, ServiceImpl } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/protogate/v1/inference_service_pb.js";
import { ModelService, ModelState } from "../gen/protogate/v1/model_service_pb.js";
import { SandboxService } from "../gen/protogate/v1/sandbox_service_pb.js";
import { StatsService } from "../gen/protogate/v1/stats_service_pb.js";
import type { ModelCatalog } from "./catalog/model-catalog.js";
import {
  type ResolvedConfig,
  backendPolicyOf,
  defaultRoutePolicy,
  observabilityOf,
} from "./config/resolved-config.js";
import { type NodeHandler, createProbeRoutes } from "./http/probe-routes.js";
import { type RefusedRpc, createObservabilityInterceptor, createRefusedRpcRecorder } from "./interceptors/index.js";
import {
  type GatewayMetrics,
  type RequestLogger,
  type RollingStats,
  createGatewayMetrics,
  createRequestLogger,
  createRollingStats,
  createSessionTracker,
  windowLengthsMs,
  windowNames,
} from "./observability/index.js";
import { type BackendGuards, createBackendGuards } from "./reliability/backend-guards.js";
import { createRoutePolicies } from "./routing/route-policy.js";
import { type BackendLiveState, createStatsService } from "./services/stats-service.js";
import { type UpstreamCaller, createUpstreamCaller } from "./services/upstream-call.js";

/** The gateway's operational machinery: metrics, stats, logs and the reliability policies. */
export interface GatewayOperations {
  readonly metrics: GatewayMetrics;
  readonly stats: RollingStats;
  readonly guards: BackendGuards;
  /** The backend caller with the policies; InferenceService uses it. */
  readonly upstream: UpstreamCaller;
  /** Interceptors to put first in every router's list. */
  readonly interceptors: readonly Interceptor[];
  /** Records an RPC refused before the interceptors ran, as they record every other (see createRefusedRpcRecorder). */
  readonly recordRefused: (rpc: RefusedRpc) => void;
  /** protogate.v1.StatsService. */
  readonly statsService: ServiceImpl<typeof StatsService>;
  /** The `/metrics` exposition, with session gauges brought up to date. */
  renderMetrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  /** A backend's breaker state for /readyz; undefined without a breaker. */
  circuit(backendId: string): string | undefined;
  /** The backends' live state. */
  backends(): readonly BackendLiveState[];
  /**
   * Starts the admin port when the config asks for one (it serves
   * /metrics, /healthz and /readyz). Resolves with its URL, or undefined.
   */
  startAdmin(options: {
    readonly draining: () => boolean;
    readonly host: string;
    /** Wraps the admin routes, e.g. in the gateway's host check. */
    readonly guard?: (routes: NodeHandler) => NodeHandler;
  }): Promise<string | undefined>;
  /** Stops the admin port and flushes the request log. */
  close(): Promise<void>;
}

/** Options of createGatewayOperations. */
export interface GatewayOperationsOptions {
  readonly config: ResolvedConfig;
  readonly catalog: ModelCatalog;
  /** The request log; default from the config (JSON lines on stderr, or none). */
  readonly requestLogger?: RequestLogger | undefined;
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * Builds metrics, rolling stats, sessions, the request log, a breaker and
 * a limiter per backend and the upstream caller from the config, and keeps
 * the backend and model gauges in step with the catalog.
 *
 * @example
 * const operations = createGatewayOperations({ config, catalog });
 * const handler = createGatewayHandler({ …, operations });
 */
export function createGatewayOperations(options: GatewayOperationsOptions): GatewayOperations {
  const { config, catalog } = options;
  const now = options.now ?? (() => performance.now());
  const observability = observabilityOf(config);
  let knownModels: ReadonlySet<string> = new Set();
  const knownBackends: ReadonlySet<string> = new Set(config.backends.map((backend) => backend.id));
  const metrics = createGatewayMetrics({
    knownModels: () => knownModels,
    knownBackends: () => knownBackends,
    services: [InferenceService, ModelService, Health, StatsService, SandboxService],
  });
  const sessions = createSessionTracker({ idleMs: observability.sessionIdleMs, now });
  sessions.onSessionClosed((session) => metrics.recordSessionClosed(session.outcome, { evicted: session.reason === "evicted" }));
  const stats = createRollingStats({ now, sessions, knownModels: () => knownModels });
  const requestLogger = options.requestLogger ?? (observability.requestLog ? createRequestLogger() : undefined);

  const guards = createBackendGuards({
    backends: config.backends.map((backend) => ({ backendId: backend.id, ...backendPolicyOf(backend) })),
    onCircuitState: (backendId, state) => metrics.setCircuitState(backendId, state),
    onLimiter: (backendId, gauges) => metrics.setQueueDepth(backendId, gauges.queued),
    now,
  });

  const upstream = createUpstreamCaller({
    catalog,
    guards,
    routes: createRoutePolicies(config.routes ?? [], defaultRoutePolicy),
    events: {
      retry: (backend, reason) => metrics.recordRetry({ backend, reason }),
      fallback: (fromBackend, toBackend) => metrics.recordFallback({ fromBackend, toBackend }),
    },
    now,
  });

  function backends(): readonly BackendLiveState[] {
    return catalog.statuses().map((status) => {
      const guard = guards.get(status.id);
      return {
        id: status.id,
        up: status.reachable,
        ready: status.ready,
        detail: status.detail,
        circuit: guard?.breaker?.state(),
        inFlight: guard?.limiter.inFlight() ?? 0,
        queued: guard?.limiter.queued() ?? 0,
      };
    });
  }

  /** Backend and model gauges, and the label allowlist, follow every catalog change. */
  const syncWithCatalog = () => {
    const table = catalog.table();
    knownModels = new Set([...table.models.map((model) => model.id), ...config.aliases.map((alias) => alias.name)]);
    const statuses = catalog.statuses();
    const ready = new Set(statuses.filter((status) => status.ready).map((status) => status.id));
    for (const status of statuses) metrics.setBackendStatus({ backend: status.id, up: status.reachable, ready: status.ready });
    metrics.replaceModelReadiness(
      table.models.map((model) => ({
        model: model.id,
        backend: model.backendId,
        ready: ready.has(model.backendId) && (model.state === ModelState.LOADED || model.state === ModelState.AVAILABLE),
      })),
    );
  };
  const unsubscribe = catalog.onChange(syncWithCatalog);
  syncWithCatalog();

  const windowsMs = windowNames.map((window) => windowLengthsMs[window]);
  async function renderMetrics() {
    sessions.sweep();
    metrics.setActiveSessions(sessions.active());
    const ratios = sessions.ratios(windowsMs);
    windowNames.forEach((window, index) => metrics.setErrorFreeSessionRatio(window, ratios.overall[index]));
    return { contentType: metrics.contentType, text: await metrics.render() };
  }

  const circuit = (backendId: string) => guards.get(backendId)?.breaker?.state();
  let admin: Server | undefined;
  const observed = { metrics, stats, ...(requestLogger === undefined ? {} : { logger: requestLogger }), now };

  return {
    metrics,
    stats,
    guards,
    upstream,
    interceptors: [createObservabilityInterceptor(observed)],
    recordRefused: createRefusedRpcRecorder(observed),
    statsService: createStatsService({ stats, backends, now }),
    renderMetrics,
    circuit,
    backends,
    async startAdmin({ draining, host, guard }) {
      if (observability.adminPort === undefined) return undefined;
      const routes = createProbeRoutes({
        statuses: () => catalog.statuses(),
        draining,
        metrics: renderMetrics,
        circuit,
      });
      const server = createServer(guard === undefined ? routes : guard(routes));
      admin = server;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(observability.adminPort, observability.adminHost ?? host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    },
    async close() {
      unsubscribe();
      if (admin !== undefined) {
        const server = admin;
        admin = undefined;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      requestLogger?.logger.flush();
    },
  };
}
