import { createProtogateClient, type ProtogateClient, type ProtogateProtocol } from "../../sdk/index.js";

/** One way a real client reaches the gateway: a wire protocol and a message encoding. */
export interface E2eTransport {
  /** A label for test names, e.g. "gRPC-Web binary". */
  readonly name: string;
  readonly protocol: ProtogateProtocol;
  /** Protobuf binary instead of JSON (gRPC is always binary). */
  readonly binary: boolean;
}

/**
 * Every protocol and encoding the gateway serves on its one port, for
 * `describe.each` matrices: Connect JSON and binary and gRPC-Web JSON and
 * binary over HTTP/1.1, gRPC over h2c.
 */
export const e2eTransports: readonly E2eTransport[] = [
  { name: "Connect JSON", protocol: "connect", binary: false },
  { name: "Connect binary", protocol: "connect", binary: true },
  { name: "gRPC", protocol: "grpc", binary: true },
  { name: "gRPC-Web JSON", protocol: "grpc-web", binary: false },
  { name: "gRPC-Web binary", protocol: "grpc-web", binary: true },
];

/**
 * An SDK client for one transport of the matrix.
 *
 * @example
 * const client = createE2eClient(gateway.url, e2eTransports[2]); // gRPC
 */
export function createE2eClient(baseUrl: string, transport: E2eTransport): ProtogateClient {
  return createProtogateClient({ baseUrl, protocol: transport.protocol, binary: transport.binary });
}

