import type { BackendConfig, GatewayConfig, RouteConfig } from "../../gen/protogate/v1/config_pb.js";
import { BackendKind as ProtoBackendKind } from "../../gen/protogate/v1/config_pb.js";
import type { BackendKind } from "../backends/backend.js";
import { defaultMaxResponseBytes } from "../backends/upstream-http.js";
import type { ServeArgs } from "./cli-args.js";
import { ConfigError } from "./config-file.js";
import type { SandboxSettings } from "./sandbox-settings.js";

/** One backend after config, flags and defaults are merged. */
export interface ResolvedBackend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly models: readonly string[];
  /** Concurrency, breaker and probe settings; absent means every default (`backendPolicyOf`). */
  readonly policy?: BackendPolicy;
}

/** A circuit breaker's settings (see createCircuitBreaker). */
export interface BreakerSettings {
  readonly failureRatio: number;
  readonly minimumRequests: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

/** Active readiness probes of one backend. */
export interface ProbeSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** The reliability settings of one backend, every default filled in. */
export interface BackendPolicy {
  /** Requests sent at once; more wait in the queue. */
  readonly maxConcurrent: number;
  /** Requests that may wait for a slot; 0: none. */
  readonly maxQueue: number;
  /** Longest wait for a slot, in milliseconds. */
  readonly queueTimeoutMs: number;
  /** Undefined when the breaker is disabled. */
  readonly breaker: BreakerSettings | undefined;
  /** Undefined when active probes are disabled. */
  readonly probe: ProbeSettings | undefined;
}

/** Retries of one route (see createRetryPolicy). */
export interface RetrySettings {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
}

/** The policies of one route, every default filled in. */
export interface RoutePolicy {
  /** Longest time a request may take; a shorter client deadline wins. */
  readonly maxDeadlineMs: number;
  /** ChatStream: longest wait for an attempt's first event. */
  readonly ttftTimeoutMs: number;
  /** ChatStream: longest gap between events once generation started. */
  readonly streamIdleTimeoutMs: number;
  readonly retry: RetrySettings;
  /** Model names (ids, aliases, `backend/model`) to try in order when the requested one cannot serve. */
  readonly fallbacks: readonly string[];
}

/** A route: the model name patterns it matches and its policy. */
export interface ResolvedRoute {
  readonly models: readonly string[];
  readonly policy: RoutePolicy;
}

/** Metrics, sessions and request-log settings. */
export interface ObservabilitySettings {
  /** A second port serving /metrics, /healthz and /readyz; undefined: none. */
  readonly adminPort: number | undefined;
  /** Host of the admin port; undefined: the main listen host. */
  readonly adminHost: string | undefined;
  /** Idle time after which a session closes. */
  readonly sessionIdleMs: number;
  /** Whether one JSON line per request goes to stderr. */
  readonly requestLog: boolean;
}

/** The gateway's settings with every default filled in. */
export interface ResolvedConfig {
  readonly host: string;
  readonly port: number;
  /** Names besides IP addresses and localhost that requests may be addressed to (see withHostCheck); undefined: none. */
  readonly allowedHosts?: readonly string[] | undefined;
  /** Origins of web pages that may call the gateway and read its answers (see withCors); undefined: none. */
  readonly corsOrigins?: readonly string[] | undefined;
  readonly backends: readonly ResolvedBackend[];
  readonly aliases: ReadonlyArray<{ readonly name: string; readonly model: string }>;
  readonly maxRequestBytes: number;
  /** The most of a backend's answer read: a whole body, one line of a stream, or a stream's tool calls. */
  readonly maxBackendResponseBytes: number;
  readonly maxTimeoutMs: number;
  /** Client connections open at once; undefined: derived from the open-file limit (see defaultMaxConnections). */
  readonly maxConnections?: number | undefined;
  /** Requests in flight at once, probes excepted; more are refused (see refuseOverloaded); undefined: `defaultMaxInFlightRequests`. */
  readonly maxInFlightRequests?: number | undefined;
  readonly shutdownGraceMs: number;
  readonly discoveryIntervalMs: number;
  /** Reliability routes, first match wins; absent or empty: `defaultRoutePolicy` for every model. */
  readonly routes?: readonly ResolvedRoute[];
  /** Absent: `observabilityOf` gives the defaults. */
  readonly observability?: ObservabilitySettings;
  /**
   * The code sandbox and operator services, from `resolveSandboxSettings`
   * (it needs the config file's directory, so `serve` adds it); absent:
   * `embeddedSandboxSettings` (on, with defaults, started on first use).
   */
  readonly sandbox?: SandboxSettings;
  /**
   * Serve unary Connect POSTs over HTTP/1.1 through the fast path (see
   * server/http/connect-unary-fast-path.ts). Not in the config file: it
   * is on unless a caller turns it off, which tests do to compare the
   * fast path with connect-node's adapter.
   */
  readonly unaryFastPath?: boolean;
}

/** Defaults, in one place so docs/config.md can cite them. */
export const configDefaults = {
  host: "127.0.0.1",
  port: 7070,
  backendTimeoutMs: 600_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxBackendResponseBytes: defaultMaxResponseBytes,
  maxTimeoutMs: 600_000,
  shutdownGraceMs: 10_000,
  discoveryIntervalMs: 30_000,
  maxConcurrent: 32,
  maxQueue: 256,
  queueTimeoutMs: 30_000,
  breakerFailureRatio: 0.5,
  breakerMinimumRequests: 5,
  breakerWindowMs: 30_000,
  breakerCooldownMs: 15_000,
  probeIntervalMs: 5_000,
  probeTimeoutMs: 2_000,
  maxDeadlineMs: 600_000,
  ttftTimeoutMs: 120_000,
  streamIdleTimeoutMs: 60_000,
  retryMaxAttempts: 3,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 2_000,
  retryMaxRetryAfterMs: 10_000,
  sessionIdleMs: 30 * 60_000,
} as const;

/** A number from the config file, or `fallback` when the file leaves it out (proto3: unset reads as 0). */
export function orDefault(value: number | undefined, fallback: number): number {
  return value === undefined || value === 0 ? fallback : value;
}

/**
 * The API key in the environment variable `name` ("" for none). A variable
 * that is not set, or set to nothing (which would be sent as a bare
 * "Bearer " header), is refused at start-up; `owner` names what wanted it.
 */
export function apiKeyFromEnv(name: string, owner: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (name === "") return undefined;
  const apiKey = env[name];
  if (apiKey === undefined) throw new ConfigError(`${owner}: environment variable ${name} is not set`);
  if (apiKey.trim() === "") throw new ConfigError(`${owner}: environment variable ${name} is empty`);
  return apiKey;
}

/** The default policy of a backend the config says nothing special about. */
export const defaultBackendPolicy: BackendPolicy = {
  maxConcurrent: configDefaults.maxConcurrent,
  maxQueue: configDefaults.maxQueue,
  queueTimeoutMs: configDefaults.queueTimeoutMs,
  breaker: {
    failureRatio: configDefaults.breakerFailureRatio,
    minimumRequests: configDefaults.breakerMinimumRequests,
    windowMs: configDefaults.breakerWindowMs,
    cooldownMs: configDefaults.breakerCooldownMs,
  },
  probe: { intervalMs: configDefaults.probeIntervalMs, timeoutMs: configDefaults.probeTimeoutMs },
};

/** The policy of a model no route matches. */
export const defaultRoutePolicy: RoutePolicy = {
  maxDeadlineMs: configDefaults.maxDeadlineMs,
  ttftTimeoutMs: configDefaults.ttftTimeoutMs,
  streamIdleTimeoutMs: configDefaults.streamIdleTimeoutMs,
  retry: {
    maxAttempts: configDefaults.retryMaxAttempts,
    baseDelayMs: configDefaults.retryBaseDelayMs,
    maxDelayMs: configDefaults.retryMaxDelayMs,
    maxRetryAfterMs: configDefaults.retryMaxRetryAfterMs,
  },
  fallbacks: [],
};

/** The observability settings when the config has none. */
export const defaultObservability: ObservabilitySettings = {
  adminPort: undefined,
  adminHost: undefined,
  sessionIdleMs: configDefaults.sessionIdleMs,
  requestLog: true,
};

/** A backend's policy with defaults for what the config left out. */
export function backendPolicyOf(backend: ResolvedBackend): BackendPolicy {
  return backend.policy ?? defaultBackendPolicy;
}

/** The observability settings with defaults for what the config left out. */
export function observabilityOf(config: ResolvedConfig): ObservabilitySettings {
  return config.observability ?? defaultObservability;
}

/** Whether the file sets any of a backend's reliability fields. */
function hasPolicy(backend: BackendConfig): boolean {
  return backend.maxConcurrent !== 0 || backend.maxQueue !== undefined || backend.queueTimeoutMs !== 0 || backend.circuitBreaker !== undefined || backend.probe !== undefined;
}

function resolveBackendPolicy(backend: BackendConfig): BackendPolicy {
  const breaker = backend.circuitBreaker;
  const probe = backend.probe;
  return {
    maxConcurrent: orDefault(backend.maxConcurrent, configDefaults.maxConcurrent),
    maxQueue: backend.maxQueue ?? configDefaults.maxQueue,
    queueTimeoutMs: orDefault(backend.queueTimeoutMs, configDefaults.queueTimeoutMs),
    breaker:
      breaker?.disabled === true
        ? undefined
        : {
            failureRatio: orDefault(breaker?.failureRatio, configDefaults.breakerFailureRatio),
            minimumRequests: orDefault(breaker?.minimumRequests, configDefaults.breakerMinimumRequests),
            windowMs: orDefault(breaker?.windowMs, configDefaults.breakerWindowMs),
            cooldownMs: orDefault(breaker?.cooldownMs, configDefaults.breakerCooldownMs),
          },
    probe:
      probe?.disabled === true
        ? undefined
        : {
            intervalMs: orDefault(probe?.intervalMs, configDefaults.probeIntervalMs),
            timeoutMs: orDefault(probe?.timeoutMs, configDefaults.probeTimeoutMs),
          },
  };
}

function resolveRoute(route: RouteConfig): ResolvedRoute {
  const retry = route.retry;
  return {
    models: [...route.models],
    policy: {
      maxDeadlineMs: orDefault(route.maxDeadlineMs, configDefaults.maxDeadlineMs),
      ttftTimeoutMs: orDefault(route.ttftTimeoutMs, configDefaults.ttftTimeoutMs),
      streamIdleTimeoutMs: orDefault(route.streamIdleTimeoutMs, configDefaults.streamIdleTimeoutMs),
      retry: {
        maxAttempts: orDefault(retry?.maxAttempts, configDefaults.retryMaxAttempts),
        baseDelayMs: orDefault(retry?.baseDelayMs, configDefaults.retryBaseDelayMs),
        maxDelayMs: orDefault(retry?.maxDelayMs, configDefaults.retryMaxDelayMs),
        maxRetryAfterMs: orDefault(retry?.maxRetryAfterMs, configDefaults.retryMaxRetryAfterMs),
      },
      fallbacks: [...route.fallbacks],
    },
  };
}

const kindNames: Record<ProtoBackendKind, BackendKind | undefined> = {
  [ProtoBackendKind.UNSPECIFIED]: undefined,
  [ProtoBackendKind.OPENAI]: "openai",
  [ProtoBackendKind.OLLAMA]: "ollama",
};

/**
 * Merges the config file, command-line flags and defaults. Flags win over
 * the file; `--backend` flags add backends after the file's, with ids made
 * from their kind (`openai`, `openai-2`, …). API keys are read from the
 * environment variables the file names.
 */
export function resolveConfig(
  file: GatewayConfig | undefined,
  args: ServeArgs,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedConfig {
  const backends: ResolvedBackend[] = (file?.backends ?? []).map((backend) => {
    const kind = kindNames[backend.kind];
    if (kind === undefined) throw new ConfigError(`backend "${backend.id}": kind is required`);
    return {
      id: backend.id,
      kind,
      url: backend.url,
      apiKey: apiKeyFromEnv(backend.apiKeyEnv, `backend "${backend.id}"`, env),
      timeoutMs: orDefault(backend.timeoutMs, configDefaults.backendTimeoutMs),
      models: [...backend.models],
      ...(hasPolicy(backend) ? { policy: resolveBackendPolicy(backend) } : {}),
    };
  });
  for (const flag of args.backends) {
    let id: string = flag.kind;
    for (let n = 2; backends.some((backend) => backend.id === id); n++) id = `${flag.kind}-${n}`;
    backends.push({ id, kind: flag.kind, url: flag.url, apiKey: undefined, timeoutMs: configDefaults.backendTimeoutMs, models: [] });
  }
  const listen = file?.listen;
  return {
    host: args.host ?? (listen?.host ? listen.host : configDefaults.host),
    port: args.port ?? listen?.port ?? configDefaults.port,
    ...allowedHostsOf(listen?.allowedHosts ?? [], args.allowedHosts ?? []),
    ...(listen !== undefined && listen.corsOrigins.length > 0 ? { corsOrigins: [...listen.corsOrigins] } : {}),
    backends,
    aliases: (file?.aliases ?? []).map((alias) => ({ name: alias.name, model: alias.model })),
    maxRequestBytes: orDefault(file?.limits?.maxRequestBytes, configDefaults.maxRequestBytes),
    maxBackendResponseBytes: orDefault(file?.limits?.maxBackendResponseBytes, configDefaults.maxBackendResponseBytes),
    maxTimeoutMs: orDefault(file?.limits?.maxTimeoutMs, configDefaults.maxTimeoutMs),
    maxConnections: file?.limits?.maxConnections ? file.limits.maxConnections : undefined,
    maxInFlightRequests: file?.limits?.maxInFlightRequests ? file.limits.maxInFlightRequests : undefined,
    shutdownGraceMs: orDefault(file?.limits?.shutdownGraceMs, configDefaults.shutdownGraceMs),
    discoveryIntervalMs: orDefault(file?.discoveryIntervalMs, configDefaults.discoveryIntervalMs),
    ...(file !== undefined && file.routes.length > 0 ? { routes: file.routes.map(resolveRoute) } : {}),
    ...(file?.observability === undefined
      ? {}
      : {
          observability: {
            adminPort: file.observability.adminPort,
            adminHost: file.observability.adminHost === "" ? undefined : file.observability.adminHost,
            sessionIdleMs: orDefault(file.observability.sessionIdleMs, configDefaults.sessionIdleMs),
            requestLog: !file.observability.disableRequestLog,
          },
        }),
  };
}

/** The file's `listen.allowed_hosts` and the `--allow-host` flags together; nothing when both are empty. */
function allowedHostsOf(fromFile: readonly string[], fromFlags: readonly string[]): { allowedHosts?: string[] } {
  const names = [...fromFile, ...fromFlags];
  return names.length === 0 ? {} : { allowedHosts: names };
}
