/**
 * The gateway under test of bench/load-faults.ts, in its own process so
 * that its memory is measured alone. Started with `fork` (an IPC channel);
 * reads its settings from the environment, prints `listening URL`, and
 * answers `{ kind: "memory" }` messages with its memory usage after a full
 * garbage collection (run with --expose-gc).
 */
import { configDefaults, defaultBackendPolicy, defaultObservability, defaultRoutePolicy } from "../server/config/resolved-config.js";
import { startGateway } from "../server/gateway.js";

const upstream = process.env.LOAD_UPSTREAM_URL;
if (upstream === undefined) throw new Error("LOAD_UPSTREAM_URL is not set");
const model = process.env.LOAD_MODEL ?? "bench-model";

const gateway = await startGateway({
  host: "127.0.0.1",
  port: 0,
  backends: [
    {
      id: "faulty",
      kind: "openai",
      url: upstream,
      apiKey: undefined,
      timeoutMs: configDefaults.backendTimeoutMs,
      models: [model],
      policy: { ...defaultBackendPolicy, maxConcurrent: 256, maxQueue: 256 },
    },
  ],
  aliases: [],
  maxRequestBytes: configDefaults.maxRequestBytes,
  maxBackendResponseBytes: configDefaults.maxBackendResponseBytes,
  maxTimeoutMs: configDefaults.maxTimeoutMs,
  shutdownGraceMs: 5000,
  discoveryIntervalMs: configDefaults.discoveryIntervalMs,
  routes: [
    {
      models: ["*"],
      // Stalls must end with a code long before the load generator's own 30 s guard.
      policy: { ...defaultRoutePolicy, ttftTimeoutMs: 5000, streamIdleTimeoutMs: 2000 },
    },
  ],
  observability: { ...defaultObservability, requestLog: false },
});

process.on("message", (message: { kind?: string }) => {
  if (message.kind !== "memory") return;
  globalThis.gc?.();
  const usage = process.memoryUsage();
  process.send?.({ kind: "memory", rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, inFlight: gateway.inFlight() });
});
process.once("SIGTERM", () => {
  void gateway.close().then(() => process.exit(0));
});
console.log(`listening ${gateway.url}`);
