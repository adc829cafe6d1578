import type { GatewayConfig } from "../../gen/protogate/v1/config_pb.js";
import { BackendKind as ProtoBackendKind } from "../../gen/protogate/v1/config_pb.js";
import type { BackendKind } from "../backends/backend.js";
import type { ServeArgs } from "./cli-args.js";
import { ConfigError } from "./config-file.js";

/** One backend after config, flags and defaults are merged. */
export interface ResolvedBackend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly models: readonly string[];
}

/** The gateway's settings with every default filled in. */
export interface ResolvedConfig {
  readonly host: string;
  readonly port: number;
  readonly backends: readonly ResolvedBackend[];
  readonly aliases: ReadonlyArray<{ readonly name: string; readonly model: string }>;
  readonly maxRequestBytes: number;
  readonly maxTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly discoveryIntervalMs: number;
}

/** Defaults, in one place so docs/config.md can cite them. */
export const configDefaults = {
  host: "127.0.0.1",
  port: 7070,
  backendTimeoutMs: 600_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxTimeoutMs: 600_000,
  shutdownGraceMs: 10_000,
  discoveryIntervalMs: 30_000,
} as const;

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
  const orDefault = (value: number | undefined, fallback: number) => (value === undefined || value === 0 ? fallback : value);
  const backends: ResolvedBackend[] = (file?.backends ?? []).map((backend) => {
    const kind = kindNames[backend.kind];
    if (kind === undefined) throw new ConfigError(`backend "${backend.id}": kind is required`);
    const apiKey = backend.apiKeyEnv === "" ? undefined : env[backend.apiKeyEnv];
    if (backend.apiKeyEnv !== "" && apiKey === undefined) {
      throw new ConfigError(`backend "${backend.id}": environment variable ${backend.apiKeyEnv} is not set`);
    }
    return {
      id: backend.id,
      kind,
      url: backend.url,
      apiKey,
      timeoutMs: orDefault(backend.timeoutMs, configDefaults.backendTimeoutMs),
      models: [...backend.models],
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
    backends,
    aliases: (file?.aliases ?? []).map((alias) => ({ name: alias.name, model: alias.model })),
    maxRequestBytes: orDefault(file?.limits?.maxRequestBytes, configDefaults.maxRequestBytes),
    maxTimeoutMs: orDefault(file?.limits?.maxTimeoutMs, configDefaults.maxTimeoutMs),
    shutdownGraceMs: orDefault(file?.limits?.shutdownGraceMs, configDefaults.shutdownGraceMs),
    discoveryIntervalMs: orDefault(file?.discoveryIntervalMs, configDefaults.discoveryIntervalMs),
  };
}
