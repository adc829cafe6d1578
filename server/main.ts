import { dirname, resolve } from "node:path";
import { discoverLocalBackends } from "./config/auto-discovery.js";
import { parseServeArgs } from "./config/cli-args.js";
import { isLoopbackAddress } from "./http/host-check.js";
import { loadConfigFile } from "./config/config-file.js";
import { type ResolvedConfig, configDefaults, resolveConfig } from "./config/resolved-config.js";
import { resolveSandboxSettings } from "./config/sandbox-settings.js";
import { type RunningGateway, startGateway } from "./gateway.js";
import { createLogger } from "./log/logger.js";

/** Where `serve` writes what a person reads (stdout by default). */
export interface ServeOutput {
  readonly print: (line: string) => void;
}

/**
 * `protogate serve`: reads flags and the config file, auto-discovers local
 * backends when none is configured, starts the gateway, and shuts it down
 * gracefully on SIGINT or SIGTERM (a second signal exits at once). This is
 * the only module with process-wide side effects.
 */
export async function serveMain(argv: readonly string[], output: ServeOutput = { print: (line) => console.log(line) }): Promise<RunningGateway> {
  const args = parseServeArgs(argv);
  const file = args.configPath === undefined ? undefined : loadConfigFile(args.configPath);
  let config: ResolvedConfig = resolveConfig(file, args, process.env);
  // Paths in the sandbox section (operator images and proto directories) are relative to the config file.
  config = { ...config, sandbox: resolveSandboxSettings(file, process.env, args.configPath === undefined ? process.cwd() : dirname(resolve(args.configPath))) };

  if (config.backends.length === 0 && file === undefined) {
    const found = await discoverLocalBackends({ host: "127.0.0.1", timeoutMs: 800 });
    for (const backend of found) output.print(`found ${backend.product} at ${backend.url} (backend "${backend.id}", kind ${backend.kind})`);
    if (found.length === 0) {
      output.print(
        "no backend found on the standard local ports (Ollama 11434, llama.cpp 8080, LM Studio 1234, vLLM 8000).\n" +
          "Starting anyway; /readyz stays not-ready until a backend is added. Add one with\n" +
          "  --backend openai=http://127.0.0.1:8080   or   --backend ollama=http://127.0.0.1:11434\n" +
          "or a config file (--config protogate.yaml, see docs/config.md).",
      );
    }
    config = {
      ...config,
      backends: found.map((backend) => ({
        id: backend.id,
        kind: backend.kind,
        url: backend.url,
        apiKey: undefined,
        timeoutMs: configDefaults.backendTimeoutMs,
        models: [],
      })),
    };
  }

  const log = createLogger();
  const gateway = await startGateway(config, log);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    log.info("signal received, shutting down", { signal });
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Printed only once the handlers are in place: a supervisor that signals
  // as soon as it reads this line must get a graceful shutdown.
  const models = gateway.catalog.table().models.length;
  output.print(`protogate listening on ${gateway.url} (${config.backends.length} backend(s), ${models} model(s))`);
  const address = new URL(gateway.url).hostname;
  if (!isLoopbackAddress(address)) {
    output.print(
      `note: ${address} is reachable from other machines, and protogate has no client authentication yet: anyone who can\n` +
        "reach this port can use its models and its code sandbox. Requests must still be addressed to an IP address,\n" +
        "localhost or a name given with --allow-host NAME or listen.allowed_hosts (docs/config.md).",
    );
  }
  return gateway;
}
