/** Settings of the example weather operator service (examples/weather), for the sandbox tests. */
import { join } from "node:path";
import type { OperatorServiceSettings } from "../../server/config/sandbox-settings.js";
import { repoRoot } from "./run-process.js";

/** The weather example's proto directory. */
export const weatherProtoDir = join(repoRoot, "examples", "weather", "proto");

/** The weather service built from its proto directory, with overrides. */
export function weatherOperator(overrides: Partial<OperatorServiceSettings> = {}): OperatorServiceSettings {
  return {
    name: "weather",
    source: { kind: "proto-dir", path: weatherProtoDir },
    upstreamUrl: "http://127.0.0.1:9090",
    protocol: "connect",
    services: ["weather.v1.WeatherService"],
    properties: {},
    timeoutMs: 30_000,
    apiKey: undefined,
    ...overrides,
  };
}
