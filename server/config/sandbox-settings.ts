import { isAbsolute, resolve } from "node:path";
import { type GatewayConfig, OperatorProtocol } from "../../gen/protogate/v1/config_pb.js";
import { defaultCheckerWorkers } from "../../sandbox/checker/index.js";
import { ConfigError } from "./config-file.js";
import { apiKeyFromEnv, orDefault } from "./resolved-config.js";

/** The wire protocol to an operator service. */
export type OperatorProtocolName = "connect" | "grpc" | "grpc-web";

/** Where an operator service's descriptors come from. */
export type OperatorDescriptorSource =
  /** A Buf image or FileDescriptorSet file (`buf build -o`). */
  | { readonly kind: "image"; readonly path: string }
  /** A directory of .proto files, built with `buf build` at start-up. */
  | { readonly kind: "proto-dir"; readonly path: string };

/** One operator service after defaults are filled in; paths are absolute. */
export interface OperatorServiceSettings {
  /** For logs and errors; "" means "name it after its first service". */
  readonly name: string;
  readonly source: OperatorDescriptorSource;
  readonly upstreamUrl: string;
  readonly protocol: OperatorProtocolName;
  /** Fully-qualified service names to expose; empty: all of them. */
  readonly services: readonly string[];
  /** Property names on `gateway` by fully-qualified service name. */
  readonly properties: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Bearer token for the upstream, read from the environment. */
  readonly apiKey: string | undefined;
}

/** The code sandbox's settings with every default filled in. */
export interface SandboxSettings {
  readonly enabled: boolean;
  /** Start the checker and the sandbox processes with the gateway, not on first use. */
  readonly prestart: boolean;
  /** Sandbox child processes. */
  readonly poolSize: number;
  /** Type-checker worker threads. */
  readonly checkerWorkers: number;
  /** Limits of one run. */
  readonly limits: {
    readonly wallTimeMs: number;
    readonly memoryMb: number;
    readonly maxSdkCalls: number;
    readonly maxOutputBytes: number;
  };
  /** Runs in progress (running or queued) before Execute answers resource_exhausted. */
  readonly maxPendingRuns: number;
  /** Checks in progress (checking or queued) before Check answers resource_exhausted. */
  readonly maxPendingChecks: number;
  /** `service.method` or `service.*` patterns; empty: every method. */
  readonly allowedMethods: readonly string[];
  readonly operatorServices: readonly OperatorServiceSettings[];
}

/** Defaults of the sandbox settings, in one place so docs/sandbox.md can cite them. */
export const sandboxDefaults = {
  poolSize: 2,
  wallTimeMs: 5000,
  memoryMb: 64,
  maxSdkCalls: 50,
  maxOutputBytes: 256 * 1024,
  maxPendingRuns: 64,
  maxPendingChecks: 64,
  operatorTimeoutMs: 30_000,
} as const;

/**
 * The settings a gateway started without a config file uses (tests,
 * embedding): the sandbox on, with every default, started on first use.
 */
export const embeddedSandboxSettings: SandboxSettings = {
  enabled: true,
  prestart: false,
  poolSize: sandboxDefaults.poolSize,
  checkerWorkers: defaultCheckerWorkers(),
  limits: {
    wallTimeMs: sandboxDefaults.wallTimeMs,
    memoryMb: sandboxDefaults.memoryMb,
    maxSdkCalls: sandboxDefaults.maxSdkCalls,
    maxOutputBytes: sandboxDefaults.maxOutputBytes,
  },
  maxPendingRuns: sandboxDefaults.maxPendingRuns,
  maxPendingChecks: sandboxDefaults.maxPendingChecks,
  allowedMethods: [],
  operatorServices: [],
};

const protocolNames: Record<OperatorProtocol, OperatorProtocolName> = {
  [OperatorProtocol.UNSPECIFIED]: "connect",
  [OperatorProtocol.CONNECT]: "connect",
  [OperatorProtocol.GRPC]: "grpc",
  [OperatorProtocol.GRPC_WEB]: "grpc-web",
};

/**
 * Resolves the `sandbox` and `operatorServices` sections of a (validated)
 * config file: fills defaults, makes paths absolute against `baseDir` (the
 * config file's directory), reads API keys from the environment and checks
 * that operator service names are unique. Loading the descriptors happens
 * when the gateway starts.
 *
 * @example
 * const sandbox = resolveSandboxSettings(file, process.env, dirname(configPath));
 */
export function resolveSandboxSettings(
  file: GatewayConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
  baseDir: string,
): SandboxSettings {
  const sandbox = file?.sandbox;
  const names = new Set<string>();
  const operatorServices = (file?.operatorServices ?? []).map((service, index): OperatorServiceSettings => {
    const where = `operatorServices[${index}]`;
    if (service.source.case === undefined) throw new ConfigError(`${where}: image or protoDir is required`);
    if (service.name !== "") {
      if (names.has(service.name)) throw new ConfigError(`${where}.name: duplicate operator service name "${service.name}"`);
      names.add(service.name);
    }
    const apiKey = apiKeyFromEnv(service.apiKeyEnv, where, env);
    const path = isAbsolute(service.source.value) ? service.source.value : resolve(baseDir, service.source.value);
    return {
      name: service.name,
      source: service.source.case === "image" ? { kind: "image", path } : { kind: "proto-dir", path },
      upstreamUrl: service.upstreamUrl,
      protocol: protocolNames[service.protocol],
      services: [...service.services],
      properties: { ...service.properties },
      timeoutMs: orDefault(service.timeoutMs, sandboxDefaults.operatorTimeoutMs),
      apiKey,
    };
  });
  return {
    enabled: sandbox?.disabled !== true,
    prestart: sandbox?.prestart ?? true,
    poolSize: orDefault(sandbox?.poolSize, sandboxDefaults.poolSize),
    checkerWorkers: orDefault(sandbox?.checkerWorkers, defaultCheckerWorkers()),
    limits: {
      wallTimeMs: orDefault(sandbox?.wallTimeMs, sandboxDefaults.wallTimeMs),
      memoryMb: orDefault(sandbox?.memoryMb, sandboxDefaults.memoryMb),
      maxSdkCalls: orDefault(sandbox?.maxSdkCalls, sandboxDefaults.maxSdkCalls),
      maxOutputBytes: orDefault(sandbox?.maxOutputBytes, sandboxDefaults.maxOutputBytes),
    },
    maxPendingRuns: orDefault(sandbox?.maxPendingRuns, sandboxDefaults.maxPendingRuns),
    maxPendingChecks: orDefault(sandbox?.maxPendingChecks, sandboxDefaults.maxPendingChecks),
    allowedMethods: [...(sandbox?.allowedMethods ?? [])],
    operatorServices,
  };
}
