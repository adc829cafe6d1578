import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createValidateInterceptor } from "@connectrpc/validate";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/protogate/v1/inference_service_pb.js";
import { ModelService } from "../gen/protogate/v1/model_service_pb.js";
import type { ModelCatalog } from "./catalog/model-catalog.js";
import type { HealthRegistry } from "./health/health-registry.js";
import { type NodeHandler, createProbeRoutes } from "./http/probe-routes.js";
import { createHealthService } from "./services/health-service.js";
import { createInferenceService } from "./services/inference-service.js";
import { createModelService } from "./services/model-service.js";

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
}

/** A Node request handler serving every protocol on one port. */
export type GatewayHandler = NodeHandler;

/**
 * Builds the gateway's request handler from injected dependencies: the
 * RPC services over Connect (JSON and binary, POST and GET), gRPC and
 * gRPC-Web, plus /healthz and /readyz. Strict JSON (unknown fields are
 * errors) and the protovalidate interceptor apply to every RPC.
 *
 * @example
 * const handler = createGatewayHandler({ catalog, health, limits, shutdownSignal, draining: () => false });
 */
export function createGatewayHandler(options: GatewayAppOptions): GatewayHandler {
  const routes = (router: ConnectRouter) => {
    router.service(InferenceService, createInferenceService({ catalog: options.catalog }));
    router.service(ModelService, createModelService({ catalog: options.catalog }));
    router.service(Health, createHealthService({ registry: options.health }));
  };
  return connectNodeAdapter({
    routes,
    interceptors: [createValidateInterceptor()],
    jsonOptions: { ignoreUnknownFields: false },
    readMaxBytes: options.limits.maxRequestBytes,
    maxTimeoutMs: options.limits.maxTimeoutMs,
    shutdownSignal: options.shutdownSignal,
    fallback: createProbeRoutes({ statuses: () => options.catalog.statuses(), draining: options.draining }),
  });
}
