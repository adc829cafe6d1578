import { type Client, type Interceptor, type Transport, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/protogate/v1/inference_service_pb.js";
import { ModelService } from "../gen/protogate/v1/model_service_pb.js";
import { StatsService } from "../gen/protogate/v1/stats_service_pb.js";
import { SandboxService } from "../gen/protogate/v1/sandbox_service_pb.js";

/** The wire protocols a protogate server speaks on its one port. */
export type ProtogateProtocol = "connect" | "grpc" | "grpc-web";

/** Options of createProtogateClient. */
export interface ProtogateClientOptions {
  /** The gateway's URL, e.g. http://127.0.0.1:7070. */
  readonly baseUrl: string;
  /** Defaults to "connect". gRPC always uses HTTP/2. */
  readonly protocol?: ProtogateProtocol;
  /** Protobuf binary instead of JSON (Connect and gRPC-Web; gRPC is always binary). */
  readonly binary?: boolean;
  /** HTTP version for Connect and gRPC-Web; defaults to "1.1". */
  readonly httpVersion?: "1.1" | "2";
  /** Sent with every call, e.g. a session id header. */
  readonly interceptors?: readonly Interceptor[];
  /**
   * Tags every call with this session id (the `protogate-session-id`
   * header), so the gateway can count error-free sessions. A non-empty
   * `ChatRequest.session_id` wins over it.
   */
  readonly sessionId?: string;
  /** Use this transport instead of building one (tests, browsers). */
  readonly transport?: Transport;
}

/** Typed clients for every protogate service. */
export interface ProtogateClient {
  /** Chat and ChatStream. */
  readonly inference: Client<typeof InferenceService>;
  /** ListModels and GetModel. */
  readonly models: Client<typeof ModelService>;
  /** The standard gRPC health service. */
  readonly health: Client<typeof Health>;
  /** Live traffic statistics (GetStats). */
  readonly stats: Client<typeof StatsService>;
  /** Check, Execute and SearchDocs: TypeScript against the gateway's typed SDK (docs/sandbox.md). */
  readonly sandbox: Client<typeof SandboxService>;
  /** The transport the clients share. */
  readonly transport: Transport;
}

/**
 * Creates typed clients for a protogate gateway over Connect, gRPC or
 * gRPC-Web. Every request and response is typed from the generated
 * descriptors, so a misspelled field or method fails at compile time.
 *
 * @example
 * const gateway = createProtogateClient({ baseUrl: "http://127.0.0.1:7070" });
 * const { models } = await gateway.models.listModels({});
 */
export function createProtogateClient(options: ProtogateClientOptions): ProtogateClient {
  const transport = options.transport ?? createTransport(options);
  return {
    inference: createClient(InferenceService, transport),
    models: createClient(ModelService, transport),
    health: createClient(Health, transport),
    stats: createClient(StatsService, transport),
    sandbox: createClient(SandboxService, transport),
    transport,
  };
}

function createTransport(options: ProtogateClientOptions): Transport {
  const sessionId = options.sessionId;
  const interceptors: Interceptor[] = [
    ...(sessionId === undefined
      ? []
      : [
          ((next) => (req) => {
            req.header.set("protogate-session-id", sessionId);
            return next(req);
          }) satisfies Interceptor,
        ]),
    ...(options.interceptors ?? []),
  ];
  const binary = options.binary ?? false;
  switch (options.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport({ baseUrl: options.baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: options.baseUrl, httpVersion: options.httpVersion ?? "1.1", useBinaryFormat: binary, interceptors });
    case "connect":
      return createConnectTransport({
        baseUrl: options.baseUrl,
        httpVersion: options.httpVersion ?? "1.1",
        useBinaryFormat: binary,
        useHttpGet: true,
        interceptors,
      });
  }
}
