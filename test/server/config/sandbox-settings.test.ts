import { describe, expect, it } from "vitest";
import { ConfigError, parseConfigText } from "../../../server/config/config-file.js";
import { defaultCheckerWorkers } from "../../../sandbox/checker/index.js";
import { resolveSandboxSettings, sandboxDefaults } from "../../../server/config/sandbox-settings.js";

const yaml = (...lines: string[]) => parseConfigText(lines.join("\n"), "protogate.yaml");

describe("the sandbox section of the config file", () => {
  it("has every default when absent: on, prestarted, no operator services", () => {
    expect(resolveSandboxSettings(undefined, {}, "/etc/protogate")).toEqual({
      enabled: true,
      prestart: true,
      poolSize: sandboxDefaults.poolSize,
      checkerWorkers: defaultCheckerWorkers(),
      limits: { wallTimeMs: 5000, memoryMb: 64, maxSdkCalls: 50, maxOutputBytes: 262144 },
      maxPendingRuns: 64,
      maxPendingChecks: 64,
      allowedMethods: [],
      operatorServices: [],
    });
  });

  it("takes settings and operator services, with paths relative to the config file", () => {
    const file = yaml(
      "sandbox:",
      "  prestart: false",
      "  poolSize: 4",
      "  checkerWorkers: 3",
      "  wallTimeMs: 2000",
      "  memoryMb: 0",
      "  allowedMethods: [models.listModels, weather.*]",
      "operatorServices:",
      "  - protoDir: weather/proto",
      "    upstreamUrl: http://127.0.0.1:9090",
      "    protocol: OPERATOR_PROTOCOL_GRPC",
      "    properties: { weather.v1.WeatherService: forecast }",
      "    apiKeyEnv: WEATHER_TOKEN",
      "  - name: shop",
      "    image: /srv/shop.binpb",
      "    upstreamUrl: http://shop:8080",
      "    timeoutMs: 500",
    );
    const settings = resolveSandboxSettings(file, { WEATHER_TOKEN: "t0ken" }, "/etc/protogate");
    expect(settings).toMatchObject({
      enabled: true,
      prestart: false,
      poolSize: 4,
      checkerWorkers: 3,
      limits: { wallTimeMs: 2000, memoryMb: 64 },
      allowedMethods: ["models.listModels", "weather.*"],
    });
    expect(settings.operatorServices).toEqual([
      {
        name: "",
        source: { kind: "proto-dir", path: "/etc/protogate/weather/proto" },
        upstreamUrl: "http://127.0.0.1:9090",
        protocol: "grpc",
        services: [],
        properties: { "weather.v1.WeatherService": "forecast" },
        timeoutMs: 30_000,
        apiKey: "t0ken",
      },
      {
        name: "shop",
        source: { kind: "image", path: "/srv/shop.binpb" },
        upstreamUrl: "http://shop:8080",
        protocol: "connect",
        services: [],
        properties: {},
        timeoutMs: 500,
        apiKey: undefined,
      },
    ]);
  });

  it("turns the sandbox off", () => {
    expect(resolveSandboxSettings(yaml("sandbox: { disabled: true }"), {}, "/").enabled).toBe(false);
  });

  it.each([
    [["sandbox: { memoryMb: 4 }"], "sandbox.memory_mb: must be greater than or equal to 8 and less than or equal to 4096 [uint32.gte_lte]"],
    [["sandbox: { checkerWorkers: 17 }"], "sandbox.checker_workers: must be less than or equal to 16 [uint32.lte]"],
    [["sandbox: { allowedMethods: [models] }"], "sandbox.allowed_methods[0]: does not match regex pattern"],
    [["operatorServices:", "  - upstreamUrl: http://x:1"], "operator_services[0].source: exactly one field is required in oneof [required]"],
    [["operatorServices:", "  - protoDir: p", "    upstreamUrl: not a url"], "operator_services[0].upstream_url: must be a valid URI [string.uri]"],
  ])("rejects %j with the field path", (lines, message) => {
    expect(() => yaml(...lines)).toThrow(ConfigError);
    expect(() => yaml(...lines)).toThrow(message);
  });

  it("rejects a key the schema does not have, with its path", () => {
    expect(() => yaml("operatorServices:", "  - protoDir: p", "    upstreamUrl: http://x:1", "    upstream: http://x:1")).toThrow(
      "operatorServices[0].upstream: unknown key",
    );
  });

  it("rejects duplicate names and missing API key variables", () => {
    const twice = yaml("operatorServices:", "  - name: a", "    protoDir: p", "    upstreamUrl: http://x:1", "  - name: a", "    image: i", "    upstreamUrl: http://x:2");
    expect(() => resolveSandboxSettings(twice, {}, "/")).toThrow(new ConfigError('operatorServices[1].name: duplicate operator service name "a"'));
    const keyed = yaml("operatorServices:", "  - protoDir: p", "    upstreamUrl: http://x:1", "    apiKeyEnv: NOPE");
    expect(() => resolveSandboxSettings(keyed, {}, "/")).toThrow(new ConfigError("operatorServices[0]: environment variable NOPE is not set"));
  });
});
