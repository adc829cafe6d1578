import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { type Transport, createRouterTransport } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { createValidateInterceptor } from "@connectrpc/validate";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/protogate/v1/inference_service_pb.js";
import { ModelService } from "../gen/protogate/v1/model_service_pb.js";
import { SandboxService } from "../gen/protogate/v1/sandbox_service_pb.js";
import { StatsService } from "../gen/protogate/v1/stats_service_pb.js";
import type { GatewayOperations } from "./gateway-operations.js";
import { createBoundedValidator } from "./interceptors/index.js";
import type { ModelCatalog } from "./catalog/model-catalog.js";
import type { HealthRegistry } from "./health/health-registry.js";
import { type ServiceRegistration, createUnaryFastPath, serviceRegistration } from "./http/connect-unary-fast-path.js";
import { type NodeHandler, type NodeRequest, type NodeResponse, createProbeRoutes } from "./http/probe-routes.js";
import { assignRequestId, requestIdHeader, requestIdKey, requestIdOf } from "./http/request-id.js";
import { handleRefusedRpcs } from "./http/refused-rpcs.js";
import { strictUtf8Decoder } from "./http/strict-utf8.js";
import { createHealthService } from "./services/health-service.js";
import { createInferenceService } from "./services/inference-service.js";
import { createModelService } from "./services/model-service.js";
import { type GatewaySandbox, peerContextValues } from "./sandbox/index.js";
import { createSandboxService } from "./services/sandbox-service.js";

/** Limits applied to every RPC. */
export interface RequestLimits {
  /** Largest request message in bytes. */
  readonly maxRequestBytes: number;
  /** Longest client timeout accepted, in milliseconds. */
  readonly maxTimeoutMs: number;
}

/** Everything the gateway's HTTP handler is built from. */
export interface GatewayAppOptions {
  readonly catalog: ModelCatalog;
  readonly health: HealthRegistry;
  readonly limits: RequestLimits;
  /** Aborted when the drain period of a shutdown is over. */
  readonly shutdownSignal: AbortSignal;
  /** True while the server drains for shutdown. */
  readonly draining: () => boolean;
  /** The code sandbox behind SandboxService; absent when it is turned off. */
  readonly sandbox?: GatewaySandbox;
  /** The sandbox's MCP endpoint, served at /mcp; absent when the sandbox is off. */
  readonly mcp?: NodeHandler;
  /**
   * Metrics, stats, request log and reliability policies: its interceptors
   * go first, InferenceService calls backends through its upstream caller,
   * and StatsService and /metrics are served. Absent: default policies, no
   * metrics.
   */
  readonly operations?: GatewayOperations;
  /**
   * Serve unary Connect POSTs over HTTP/1.1 through the lean fast path
   * (server/http/connect-unary-fast-path.ts) instead of connect-node's
   * adapter. Default true; false exists so tests can compare the two.
   */
  readonly unaryFastPath?: boolean;
}

/** A Node request handler serving every protocol on one port. */
export type GatewayHandler = NodeHandler;

/**
 * Builds the gateway's request handler from injected dependencies: the
 * RPC services over Connect (JSON and binary, POST and GET), gRPC and
 * gRPC-Web, plus /healthz, /readyz, /metrics and the sandbox's /mcp. Strict JSON (unknown fields and
 * bytes that are not UTF-8 are errors) and the protovalidate interceptor apply to every RPC, and every
 * answer names its request (`protogate-request-id`).
 *
 * @example
 * const handler = createGatewayHandler({ catalog, health, limits, shutdownSignal, draining: () => false });
 */
export function createGatewayHandler(options: GatewayAppOptions): GatewayHandler {
  const services: ServiceRegistration[] = [
    ...gatewayServices(options),
    serviceRegistration(SandboxService, createSandboxService({ sandbox: options.sandbox })),
  ];
  // The same settings for both paths, so that they answer alike.
  const common = {
    interceptors: interceptorsOf(options.operations),
    jsonOptions: { ignoreUnknownFields: false, textDecoder: strictUtf8Decoder },
    acceptCompression: [compressionGzip, compressionBrotli],
    readMaxBytes: options.limits.maxRequestBytes,
    maxTimeoutMs: options.limits.maxTimeoutMs,
    shutdownSignal: options.shutdownSignal,
    contextValues: (request: NodeRequest) => peerContextValues(request).set(requestIdKey, requestIdOf(request)),
  };
  const adapter = connectNodeAdapter({
    ...common,
    routes: (router: ConnectRouter) => {
      registerServices(router, services);
      // It tells refused calls from the rest by the observability interceptor's mark, so it needs the operations
      // (which the gateway always has).
      if (options.operations !== undefined) handleRefusedRpcs(router, options.operations.recordRefused);
    },
    fallback: createProbeRoutes({
      statuses: () => options.catalog.statuses(),
      draining: options.draining,
      ...(options.mcp === undefined ? {} : { mcp: options.mcp }),
      ...(options.operations === undefined ? {} : { metrics: options.operations.renderMetrics, circuit: options.operations.circuit }),
    }),
  });
  const fastPath =
    options.unaryFastPath === false
      ? () => false
      : createUnaryFastPath({ ...common, services, ...(options.operations === undefined ? {} : { onRefused: options.operations.recordRefused }) });
  return (request, response) => {
    const id = assignRequestId(request);
    // The fast path writes the request id itself.
    if (fastPath(request, response)) return;
    (response as NodeResponse).setHeader(requestIdHeader, id);
    adapter(request, response);
  };
}

/** The gateway's own services (everything but SandboxService) with their implementations. */
function gatewayServices(options: Pick<GatewayAppOptions, "catalog" | "health" | "operations">): ServiceRegistration[] {
  const upstream = options.operations?.upstream;
  return [
    serviceRegistration(InferenceService, createInferenceService({ catalog: options.catalog, ...(upstream === undefined ? {} : { upstream }) })),
    serviceRegistration(ModelService, createModelService({ catalog: options.catalog })),
    serviceRegistration(Health, createHealthService({ registry: options.health })),
    ...(options.operations === undefined ? [] : [serviceRegistration(StatsService, options.operations.statsService)]),
  ];
}

/** Registers services on a router. */
function registerServices(router: ConnectRouter, services: readonly ServiceRegistration[]): void {
  for (const service of services) service.register(router);
}

/**
 * A transport that calls the gateway's own services in-process, with the
 * same protovalidate interceptor as the network path: the sandbox's host
 * bridge uses it, so sandbox calls need no socket. SandboxService is not
 * on it (sandbox code cannot start more sandboxes).
 *
 * @example
 * const transport = createInProcessTransport({ catalog, health });
 */
export function createInProcessTransport(options: Pick<GatewayAppOptions, "catalog" | "health" | "operations">): Transport {
  return createRouterTransport((router) => registerServices(router, gatewayServices(options)), {
    router: { interceptors: interceptorsOf(options.operations) },
  });
}

/** Every router's interceptors: the operations' first (outermost, so they see validation failures), then protovalidate. */
function interceptorsOf(operations: GatewayOperations | undefined): Interceptor[] {
  return [...(operations?.interceptors ?? []), createValidateInterceptor({ validator: createBoundedValidator() })];
}
