import { setMaxListeners } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGatewayHandler, createInProcessTransport } from "./app.js";
import type { Backend } from "./backends/backend.js";
import { createOllamaBackend } from "./backends/ollama/backend.js";
import { createOpenAiBackend } from "./backends/openai/backend.js";
import { type ModelCatalog, createModelCatalog } from "./catalog/model-catalog.js";
import { type ResolvedBackend, type ResolvedConfig, backendPolicyOf } from "./config/resolved-config.js";
import { type GatewayOperations, createGatewayOperations } from "./gateway-operations.js";
import { createHealthRegistry } from "./health/health-registry.js";
import { computeHealthStates } from "./health/health-states.js";
import { listenDualProtocol } from "./http/dual-protocol-server.js";
import { withCors } from "./http/cors.js";
import { type ForeignHost, withHostCheck } from "./http/host-check.js";
import { defaultMaxInFlightRequests } from "./http/load-shedding.js";
import { isProbeRequest } from "./http/probe-routes.js";
import { type Logger, silentLogger } from "./log/logger.js";
import { embeddedSandboxSettings } from "./config/sandbox-settings.js";
import { type GatewaySandbox, createMcpEndpoint, setUpGatewaySandbox } from "./sandbox/index.js";

/** A started gateway. */
export interface RunningGateway {
  /** e.g. http://127.0.0.1:7070 */
  readonly url: string;
  readonly port: number;
  readonly catalog: ModelCatalog;
  /** Metrics, stats, request log and the reliability policies. */
  readonly operations: GatewayOperations;
  /** The admin port's URL (/metrics, /healthz, /readyz), when the config asks for one. */
  readonly adminUrl: string | undefined;
  /** The code sandbox (SandboxService, /mcp); undefined when the config turns it off. */
  readonly sandbox: GatewaySandbox | undefined;
  /** Requests that have started and not finished. */
  inFlight(): number;
  /**
   * Drains and stops: readiness turns NOT_SERVING, in-flight requests get
   * up to `shutdownGraceMs` to finish, the rest end with `unavailable`.
   */
  close(): Promise<void>;
}

/** Creates the backend adapter for one configured backend. */
function createBackend(config: ResolvedBackend, maxResponseBytes: number): Backend {
  const common = { id: config.id, baseUrl: config.url, maxResponseBytes, ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }) };
  return config.kind === "ollama" ? createOllamaBackend(common) : createOpenAiBackend(common);
}

/**
 * Starts the gateway: builds the backends and the model catalog, runs the
 * first discovery, and listens on one port for every protocol. Takes a
 * fully resolved config; reading files and flags is the caller's job.
 *
 * @example
 * const gateway = await startGateway(resolveConfig(undefined, parseServeArgs(["--port", "0"]), {}));
 * await gateway.close();
 */
export async function startGateway(config: ResolvedConfig, log: Logger = silentLogger): Promise<RunningGateway> {
  const catalog = createModelCatalog({
    backends: config.backends.map((backend) => ({
      backend: createBackend(backend, config.maxBackendResponseBytes),
      configuredModels: backend.models,
      timeoutMs: backend.timeoutMs,
      probe: backendPolicyOf(backend).probe,
    })),
    aliases: config.aliases,
    intervalMs: config.discoveryIntervalMs,
  });
  const health = createHealthRegistry();
  const operations = createGatewayOperations({ config, catalog });
  let draining = false;
  const updateHealth = () => health.replaceAll(computeHealthStates(catalog.statuses(), catalog.table().models, draining));
  catalog.onChange(updateHealth);
  updateHealth();
  // Before anything starts: a bad operator service or sandbox setting stops start-up here.
  const sandbox = await setUpGatewaySandbox({
    settings: config.sandbox ?? embeddedSandboxSettings,
    gatewayTransport: createInProcessTransport({ catalog, health, operations }),
    log,
    onRun: (record) => operations.metrics.recordSandboxExecution(record.outcome),
  });
  await catalog.start();

  const shutdown = new AbortController();
  // connect links every in-flight call to this signal: one listener per request is by design, not a leak.
  setMaxListeners(0, shutdown.signal);
  const handler = createGatewayHandler({
    catalog,
    health,
    limits: { maxRequestBytes: config.maxRequestBytes, maxTimeoutMs: config.maxTimeoutMs },
    shutdownSignal: shutdown.signal,
    draining: () => draining,
    operations,
    ...(config.unaryFastPath === undefined ? {} : { unaryFastPath: config.unaryFastPath }),
    ...(sandbox === undefined ? {} : { sandbox, mcp: createMcpEndpoint({ sandbox, maxBodyBytes: config.maxRequestBytes, log }) }),
  });
  const corsOrigins = config.corsOrigins ?? [];
  const hostCheck = {
    allowedHosts: config.allowedHosts ?? [],
    allowedOrigins: corsOrigins,
    onRefused: (refusal: ForeignHost) => operations.metrics.recordForeignHost(refusal.header),
  };
  const server = await listenDualProtocol(withHostCheck(withCors(handler, corsOrigins), hostCheck), {
    host: config.host,
    port: config.port,
    ...(config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections }),
    onConnectionDropped: () => operations.metrics.recordConnectionDropped(),
    maxInFlight: config.maxInFlightRequests ?? defaultMaxInFlightRequests,
    exemptFromInFlightLimit: isProbeRequest,
    onShed: () => operations.metrics.recordRequestShed(),
  });
  const adminUrl = await operations.startAdmin({
    draining: () => draining,
    host: config.host,
    guard: (routes) => withHostCheck(routes, hostCheck),
  });

  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    catalog,
    operations,
    adminUrl,
    sandbox,
    inFlight: server.inFlight,
    close() {
      closing ??= (async () => {
        draining = true;
        updateHealth();
        catalog.stop();
        log.info("draining", { in_flight: server.inFlight(), grace_ms: config.shutdownGraceMs });
        await server.close({
          graceMs: config.shutdownGraceMs,
          abortInFlight: () => shutdown.abort(new ConnectError("the gateway is shutting down", Code.Unavailable)),
        });
        await sandbox?.close();
        await operations.close();
        log.info("stopped");
      })();
      return closing;
    },
  };
}
