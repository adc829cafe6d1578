import { type RunningGateway, startGateway } from "../../server/gateway.js";
import { configDefaults, type ResolvedBackend, type ResolvedConfig } from "../../server/config/resolved-config.js";
import type { BackendKind } from "../../server/backends/backend.js";

/** A backend for a test gateway: its kind and URL, with optional overrides. */
export interface TestBackend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly url: string;
  readonly models?: readonly string[];
  readonly timeoutMs?: number;
}

/**
 * Starts a real gateway on 127.0.0.1 port 0 in front of the given backends
 * (usually wire-exact fakes), with the production code path: discovery,
 * routing, the dual-protocol listener. Close it in afterAll/afterEach.
 *
 * @example
 * const gateway = await startTestGateway({ backends: [{ id: "llamacpp", kind: "openai", url: fake.url }] });
 */
export async function startTestGateway(options: {
  readonly backends: readonly TestBackend[];
  readonly aliases?: ResolvedConfig["aliases"];
  readonly overrides?: Partial<Omit<ResolvedConfig, "backends" | "aliases">>;
}): Promise<RunningGateway> {
  const backends: ResolvedBackend[] = options.backends.map((backend) => ({
    id: backend.id,
    kind: backend.kind,
    url: backend.url,
    apiKey: undefined,
    timeoutMs: backend.timeoutMs ?? configDefaults.backendTimeoutMs,
    models: backend.models ?? [],
  }));
  return startGateway({
    host: "127.0.0.1",
    port: 0,
    backends,
    aliases: options.aliases ?? [],
    maxRequestBytes: configDefaults.maxRequestBytes,
    maxTimeoutMs: configDefaults.maxTimeoutMs,
    shutdownGraceMs: 2000,
    discoveryIntervalMs: configDefaults.discoveryIntervalMs,
    ...options.overrides,
  });
}
