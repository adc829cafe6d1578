import type { Backend, BackendDiscovery, BackendModel, BackendProbe } from "../backends/backend.js";
import { ModelState } from "../../gen/protogate/v1/model_service_pb.js";
import { createTimeoutSignal } from "../reliability/timeout-signal.js";
import { type AliasRule, type BackendSnapshot, type RoutingTable, buildRoutingTable } from "../routing/model-router.js";

/** A backend with what the config says about it. */
export interface CatalogBackend {
  readonly backend: Backend;
  /** Models the config lists even if discovery does not. */
  readonly configuredModels: readonly string[];
  /** Per-request timeout for calls to this backend, in milliseconds. */
  readonly timeoutMs: number;
  /** Active readiness probes; absent: readiness comes from discovery alone. */
  readonly probe?: { readonly intervalMs: number; readonly timeoutMs: number } | undefined;
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
  /** When the last discovery or probe finished (ms since epoch), 0 before the first. */
  readonly checkedAt: number;
}

interface BackendState {
  discovery: BackendDiscovery | undefined;
  lastModels: readonly BackendModel[];
  checkedAt: number;
  /** The last probe, kept only while it is newer than the last discovery. */
  probe: { readonly result: BackendProbe; readonly at: number } | undefined;
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
 * probes readiness on a shorter one, rebuilds the routing table, and tells
 * listeners when anything changed. A backend's status is whatever the most
 * recent of its discovery and its probe said.
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
  /** Called after every refresh and every probe that changed a status. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Starts periodic discovery (the first one runs at once) and active probes. */
  start(): Promise<void>;
  /** Stops periodic discovery and probes. */
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
  const state = new Map<string, BackendState>();
  for (const { backend } of options.backends) state.set(backend.id, { discovery: undefined, lastModels: [], checkedAt: 0, probe: undefined });
  const listeners = new Set<() => void>();
  let table = rebuild();
  let timer: NodeJS.Timeout | undefined;
  const probeTimers = new Map<string, NodeJS.Timeout>();
  let running = false;
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
      probe: undefined, // the discovery is newer
    });
  }

  function notify(): void {
    for (const listener of listeners) listener();
  }

  /**
   * What the status of a backend says: reachable, ready, and the loaded
   * models. A probe newer than the discovery decides, but while it agrees
   * with the discovery the discovery's (richer) detail stays.
   */
  function statusOf(entry: BackendState | undefined): { reachable: boolean; ready: boolean; detail: string; loaded: string } {
    const discovered = discoveryStatus(entry);
    const probe = entry?.probe?.result;
    if (probe === undefined) return discovered;
    const loaded = probe.kind === "ready" && probe.loadedModels !== undefined ? [...probe.loadedModels].sort().join(",") : discovered.loaded;
    const probed = { reachable: probe.kind !== "down", ready: probe.kind === "ready", detail: probe.detail, loaded };
    const agrees = probed.reachable === discovered.reachable && probed.ready === discovered.ready && probed.loaded === discovered.loaded;
    return agrees ? discovered : probed;
  }

  function discoveryStatus(entry: BackendState | undefined): { reachable: boolean; ready: boolean; detail: string; loaded: string } {
    const discovery = entry?.discovery;
    const loaded =
      discovery?.kind === "reachable"
        ? discovery.models.filter((model) => model.state === ModelState.LOADED).map((model) => model.name).sort().join(",")
        : "";
    return {
      reachable: discovery?.kind === "reachable",
      ready: discovery?.kind === "reachable" && discovery.ready,
      detail: discovery?.detail ?? "not checked yet",
      loaded,
    };
  }

  /**
   * Runs one probe. When it changes what the backend's status says (up,
   * ready, or for Ollama the loaded models), listeners hear of it at once
   * and a discovery follows, so model states catch up within one round trip
   * instead of one discovery interval.
   */
  async function probeOne({ backend, probe }: CatalogBackend): Promise<void> {
    if (probe === undefined) return;
    const limit = createTimeoutSignal(stopController.signal, probe.timeoutMs, `probe took longer than ${probe.timeoutMs} ms`);
    let result: BackendProbe;
    try {
      result = await backend.probe(limit.signal);
    } catch (error) {
      result = { kind: "down", detail: error instanceof Error ? error.message : "probe failed" };
    } finally {
      limit.dispose();
    }
    if (stopController.signal.aborted) return;
    const entry = state.get(backend.id);
    if (entry === undefined) return;
    const before = statusOf(entry);
    const probed = { result, at: Date.now() };
    entry.probe = probed;
    entry.checkedAt = probed.at;
    const after = statusOf(entry);
    const loadedChanged = result.kind === "ready" && result.loadedModels !== undefined && after.loaded !== before.loaded;
    if (after.reachable !== before.reachable || after.ready !== before.ready || loadedChanged) {
      notify();
      void refresh();
    }
  }

  function scheduleProbe(entry: CatalogBackend): void {
    const probe = entry.probe;
    if (probe === undefined || !running) return;
    const handle = setTimeout(() => {
      probeOne(entry).finally(() => scheduleProbe(entry));
    }, probe.intervalMs);
    handle.unref();
    probeTimers.set(entry.backend.id, handle);
  }

  function refresh(): Promise<void> {
    // Concurrent callers share one round of discovery.
    inFlight ??= Promise.all(options.backends.map(discoverOne)).then(() => {
      inFlight = undefined;
      table = rebuild();
      notify();
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
        const status = statusOf(entry);
        return {
          id: backend.id,
          kind: backend.kind,
          url: backend.baseUrl,
          reachable: status.reachable,
          ready: status.ready,
          models: discovery?.kind === "reachable" ? discovery.models.length : 0,
          detail: status.detail,
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
      running = true;
      await refresh();
      schedule();
      for (const entry of options.backends) scheduleProbe(entry);
    },
    stop() {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      for (const handle of probeTimers.values()) clearTimeout(handle);
      probeTimers.clear();
      stopController.abort();
    },
  };
}
