import type { Backend, BackendDiscovery, BackendModel } from "../backends/backend.js";
import { createTimeoutSignal } from "../reliability/timeout-signal.js";
import { type AliasRule, type BackendSnapshot, type RoutingTable, buildRoutingTable } from "../routing/model-router.js";

/** A backend with what the config says about it. */
export interface CatalogBackend {
  readonly backend: Backend;
  /** Models the config lists even if discovery does not. */
  readonly configuredModels: readonly string[];
  /** Per-request timeout for calls to this backend, in milliseconds. */
  readonly timeoutMs: number;
}

/** Readiness of one backend, for /readyz and metrics. */
export interface BackendStatus {
  readonly id: string;
  readonly kind: Backend["kind"];
  readonly url: string;
  readonly reachable: boolean;
  readonly ready: boolean;
  readonly models: number;
  readonly detail: string;
  /** When the last discovery finished (ms since epoch), 0 before the first. */
  readonly checkedAt: number;
}

/** Options of createModelCatalog. */
export interface ModelCatalogOptions {
  readonly backends: readonly CatalogBackend[];
  readonly aliases: readonly AliasRule[];
  /** How often to rediscover, in milliseconds. */
  readonly intervalMs: number;
  /** Time limit of one discovery, in milliseconds (default 5000). */
  readonly discoveryTimeoutMs?: number;
  /** Minimum time between refreshes triggered by unknown model names (default 2000). */
  readonly missRefreshMs?: number;
}

/**
 * The live set of models across backends: rediscovers on an interval,
 * rebuilds the routing table, and tells listeners when anything changed.
 */
export interface ModelCatalog {
  /** The current routing table. */
  table(): RoutingTable;
  /** Backend readiness, in config order. */
  statuses(): readonly BackendStatus[];
  /** The backend with this id. */
  backend(id: string): CatalogBackend | undefined;
  /** Rediscovers every backend now; resolves when done. */
  refresh(): Promise<void>;
  /**
   * Rediscovers after an unknown model name, at most once per
   * `missRefreshMs`, so a new model is found without a restart but a flood
   * of bad names cannot hammer the backends.
   */
  refreshAfterMiss(): Promise<void>;
  /** Called after every refresh. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Starts periodic discovery (the first one runs at once). */
  start(): Promise<void>;
  /** Stops periodic discovery. */
  stop(): void;
}

/**
 * Creates the catalog. Nothing is fetched until `start()` or `refresh()`.
 *
 * @example
 * const catalog = createModelCatalog({ backends, aliases: [], intervalMs: 30_000 });
 * await catalog.start();
 */
export function createModelCatalog(options: ModelCatalogOptions): ModelCatalog {
  const discoveryTimeoutMs = options.discoveryTimeoutMs ?? 5000;
  const missRefreshMs = options.missRefreshMs ?? 2000;
  const state = new Map<string, { discovery: BackendDiscovery | undefined; lastModels: readonly BackendModel[]; checkedAt: number }>();
  for (const { backend } of options.backends) state.set(backend.id, { discovery: undefined, lastModels: [], checkedAt: 0 });
  const listeners = new Set<() => void>();
  let table = rebuild();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let lastMissRefresh = 0;
  const stopController = new AbortController();

  function rebuild(): RoutingTable {
    const snapshots: BackendSnapshot[] = options.backends.map(({ backend, configuredModels }) => {
      const entry = state.get(backend.id);
      return {
        backendId: backend.id,
        kind: backend.kind,
        discovery: entry?.discovery,
        lastModels: entry?.lastModels ?? [],
        configuredModels,
      };
    });
    return buildRoutingTable(snapshots, options.aliases);
  }

  async function discoverOne({ backend }: CatalogBackend): Promise<void> {
    const limit = createTimeoutSignal(stopController.signal, discoveryTimeoutMs, `discovery took longer than ${discoveryTimeoutMs} ms`);
    let discovery: BackendDiscovery;
    try {
      discovery = await backend.discover(limit.signal);
    } catch (error) {
      discovery = { kind: "unreachable", detail: error instanceof Error ? error.message : "discovery failed" };
    } finally {
      limit.dispose();
    }
    const previous = state.get(backend.id);
    state.set(backend.id, {
      discovery,
      lastModels: discovery.kind === "reachable" ? discovery.models : (previous?.lastModels ?? []),
      checkedAt: Date.now(),
    });
  }

  function refresh(): Promise<void> {
    // Concurrent callers share one round of discovery.
    inFlight ??= Promise.all(options.backends.map(discoverOne)).then(() => {
      inFlight = undefined;
      table = rebuild();
      for (const listener of listeners) listener();
    });
    return inFlight;
  }

  function schedule(): void {
    timer = setTimeout(() => {
      refresh().finally(() => {
        if (timer !== undefined) schedule();
      });
    }, options.intervalMs);
    timer.unref();
  }

  return {
    table: () => table,
    statuses: () =>
      options.backends.map(({ backend }) => {
        const entry = state.get(backend.id);
        const discovery = entry?.discovery;
        return {
          id: backend.id,
          kind: backend.kind,
          url: backend.baseUrl,
          reachable: discovery?.kind === "reachable",
          ready: discovery?.kind === "reachable" && discovery.ready,
          models: discovery?.kind === "reachable" ? discovery.models.length : 0,
          detail: discovery?.detail ?? "not checked yet",
          checkedAt: entry?.checkedAt ?? 0,
        };
      }),
    backend: (id) => options.backends.find((entry) => entry.backend.id === id),
    refresh,
    refreshAfterMiss() {
      const now = Date.now();
      if (now - lastMissRefresh < missRefreshMs) return inFlight ?? Promise.resolve();
      lastMissRefresh = now;
      return refresh();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start() {
      await refresh();
      schedule();
    },
    stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      stopController.abort();
    },
  };
}
