import { type ProtogateClient, type ProtogateProtocol, createProtogateClient } from "../sdk/index.js";

/** Flags every client command takes. */
export interface ClientFlags {
  readonly client: ProtogateClient;
  /** Arguments left after the client flags. */
  readonly rest: string[];
}

const protocols: readonly ProtogateProtocol[] = ["connect", "grpc", "grpc-web"];

/**
 * Takes `--url URL` (default $PROTOGATE_URL or http://127.0.0.1:7070) and
 * `--protocol connect|grpc|grpc-web` out of the arguments and builds an SDK
 * client from them.
 */
export function parseClientFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ClientFlags {
  let baseUrl = env.PROTOGATE_URL ?? "http://127.0.0.1:7070";
  let protocol: ProtogateProtocol = "connect";
  const rest: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === "--url" || arg === "--protocol") {
      const value = argv[++index];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      if (arg === "--url") baseUrl = value;
      else if ((protocols as readonly string[]).includes(value)) protocol = value as ProtogateProtocol;
      else throw new Error(`--protocol must be one of ${protocols.join(", ")}`);
    } else {
      rest.push(arg);
    }
  }
  return { client: createProtogateClient({ baseUrl, protocol }), rest };
}
