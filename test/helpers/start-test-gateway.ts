import { type RunningGateway, startGateway } from "../../server/gateway.js";
import {
  type BackendPolicy,
  configDefaults,
  defaultBackendPolicy,
  defaultObservability,
  type ResolvedBackend,
  type ResolvedConfig,
} from "../../server/config/resolved-config.js";
import type { BackendKind } from "../../server/backends/backend.js";
import type { Logger } from "../../server/log/logger.js";
import {
  createOllamaFake,
  createOpenAiFake,
  type OllamaFake,
  type OllamaFakeOptions,
  type OpenAiFake,
} from "./fake-upstream/index.js";

/** A backend for a test gateway: its kind and URL, with optional overrides. */
export interface TestBackend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly url: string;
  readonly models?: readonly string[];
  readonly timeoutMs?: number;
  /** Overrides of the default concurrency, breaker and probe settings. */
  readonly policy?: Partial<BackendPolicy>;
}

/**
 * Starts a real gateway on 127.0.0.1 port 0 in front of the given backends
 * (usually wire-exact fakes), with the production code path: discovery,
 * routing, the dual-protocol listener. Close it in afterAll/afterEach.
 * The request log is off unless `overrides.observability` turns it on.
 *
 * @example
 * const gateway = await startTestGateway({ backends: [{ id: "llamacpp", kind: "openai", url: fake.url }] });
 */
export async function startTestGateway(options: {
  readonly backends: readonly TestBackend[];
  readonly aliases?: ResolvedConfig["aliases"];
  readonly overrides?: Partial<Omit<ResolvedConfig, "backends" | "aliases">>;
  /** The gateway's log (silent by default); tests that read log lines pass `createLogger({ write })`. */
  readonly log?: Logger;
}): Promise<RunningGateway> {
  const backends: ResolvedBackend[] = options.backends.map((backend) => ({
    id: backend.id,
    kind: backend.kind,
    url: backend.url,
    apiKey: undefined,
    timeoutMs: backend.timeoutMs ?? configDefaults.backendTimeoutMs,
    models: backend.models ?? [],
    ...(backend.policy === undefined ? {} : { policy: { ...defaultBackendPolicy, ...backend.policy } }),
  }));
  return startGateway({
    host: "127.0.0.1",
    port: 0,
    backends,
    aliases: options.aliases ?? [],
    maxRequestBytes: configDefaults.maxRequestBytes,
    maxBackendResponseBytes: configDefaults.maxBackendResponseBytes,
    maxTimeoutMs: configDefaults.maxTimeoutMs,
    shutdownGraceMs: 2000,
    discoveryIntervalMs: configDefaults.discoveryIntervalMs,
    observability: { ...defaultObservability, requestLog: false },
    ...options.overrides,
  }, options.log);
}

/** The setup several e2e files share: a fake llama.cpp and a fake Ollama behind one test gateway. */
export interface LlamaAndOllamaGateway {
  /** Fake llama.cpp serving `qwen.gguf`; the gateway's backend `"llamacpp"`. */
  readonly llama: OpenAiFake;
  /** Fake Ollama with the models the test asked for; the gateway's backend `"ollama"`. */
  readonly ollama: OllamaFake;
  readonly gateway: RunningGateway;
  /** Closes the gateway, then both fakes. */
  close(): Promise<void>;
}

/**
 * Starts a fake llama.cpp serving `qwen.gguf` (backend id `"llamacpp"`), a fake Ollama made
 * from `ollama` (backend id `"ollama"`) and a test gateway in front of both, in that order.
 *
 * @example
 * let setup: LlamaAndOllamaGateway;
 * beforeAll(async () => {
 *   setup = await startLlamaAndOllamaGateway({ models: [{ name: "llama3.2:1b" }] });
 * });
 * afterAll(() => setup.close());
 */
export async function startLlamaAndOllamaGateway(ollama: OllamaFakeOptions): Promise<LlamaAndOllamaGateway> {
  const llamaFake = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
  const ollamaFake = await createOllamaFake(ollama);
  const gateway = await startTestGateway({
    backends: [
      { id: "llamacpp", kind: "openai", url: llamaFake.url },
      { id: "ollama", kind: "ollama", url: ollamaFake.url },
    ],
  });
  return {
    llama: llamaFake,
    ollama: ollamaFake,
    gateway,
    async close() {
      await gateway.close();
      await llamaFake.close();
      await ollamaFake.close();
    },
  };
}
