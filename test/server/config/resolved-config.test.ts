import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { BackendKind, type GatewayConfig, GatewayConfigSchema } from "../../../gen/protogate/v1/config_pb.js";
import type { ServeArgs } from "../../../server/config/cli-args.js";
import { ConfigError } from "../../../server/config/config-file.js";
import {
  backendPolicyOf,
  configDefaults,
  defaultBackendPolicy,
  defaultObservability,
  defaultRoutePolicy,
  observabilityOf,
  resolveConfig,
} from "../../../server/config/resolved-config.js";

const noArgs: ServeArgs = { configPath: undefined, host: undefined, port: undefined, backends: [] };

function file(init: MessageInitShape<typeof GatewayConfigSchema>): GatewayConfig {
  return create(GatewayConfigSchema, init);
}

describe("resolveConfig", () => {
  it("fills every default when there is neither a file nor flags", () => {
    expect(resolveConfig(undefined, noArgs, {})).toEqual({
      host: "127.0.0.1",
      port: 7070,
      backends: [],
      aliases: [],
      maxRequestBytes: 4 * 1024 * 1024,
      maxBackendResponseBytes: 32 * 1024 * 1024,
      maxTimeoutMs: 600_000,
      shutdownGraceMs: 10_000,
      discoveryIntervalMs: 30_000,
    });
  });

  it("takes the file's values, with 0 meaning the default", () => {
    const config = file({
      listen: { host: "0.0.0.0", port: 9000 },
      backends: [
        { id: "gpu", kind: BackendKind.OPENAI, url: "http://gpu:8000", timeoutMs: 1234, models: ["a", "b"] },
        { id: "ollama", kind: BackendKind.OLLAMA, url: "http://127.0.0.1:11434" },
      ],
      aliases: [{ name: "fast", model: "a" }],
      limits: { maxRequestBytes: 1024, maxTimeoutMs: 0, shutdownGraceMs: 500, maxBackendResponseBytes: 65536, maxConnections: 300, maxInFlightRequests: 50 },
      discoveryIntervalMs: 0,
    });
    expect(resolveConfig(config, noArgs, {})).toEqual({
      host: "0.0.0.0",
      port: 9000,
      backends: [
        { id: "gpu", kind: "openai", url: "http://gpu:8000", apiKey: undefined, timeoutMs: 1234, models: ["a", "b"] },
        { id: "ollama", kind: "ollama", url: "http://127.0.0.1:11434", apiKey: undefined, timeoutMs: configDefaults.backendTimeoutMs, models: [] },
      ],
      aliases: [{ name: "fast", model: "a" }],
      maxRequestBytes: 1024,
      maxBackendResponseBytes: 65536,
      maxConnections: 300,
      maxInFlightRequests: 50,
      maxTimeoutMs: configDefaults.maxTimeoutMs,
      shutdownGraceMs: 500,
      discoveryIntervalMs: configDefaults.discoveryIntervalMs,
    });
  });

  it("keeps listen.allowed_hosts and cors_origins, and leaves them out when the file lists none", () => {
    const listed = resolveConfig(file({ listen: { allowedHosts: ["gateway.internal"], corsOrigins: ["http://localhost:5173"] } }), noArgs, {});
    expect([listed.allowedHosts, listed.corsOrigins]).toEqual([["gateway.internal"], ["http://localhost:5173"]]);
    const none = resolveConfig(file({ listen: { host: "0.0.0.0" } }), noArgs, {});
    expect([none.allowedHosts, none.corsOrigins]).toEqual([undefined, undefined]);
    // --allow-host adds to the file's names.
    const flagged = resolveConfig(file({ listen: { allowedHosts: ["a.internal"] } }), { ...noArgs, allowedHosts: ["b.internal"] }, {});
    expect(flagged.allowedHosts).toEqual(["a.internal", "b.internal"]);
    expect(resolveConfig(undefined, { ...noArgs, allowedHosts: ["b.internal"] }, {}).allowedHosts).toEqual(["b.internal"]);
  });

  it("lets flags override the file's host and port, including port 0", () => {
    const config = file({ listen: { host: "0.0.0.0", port: 9000 } });
    const resolved = resolveConfig(config, { ...noArgs, host: "::1", port: 0 }, {});
    expect([resolved.host, resolved.port]).toEqual(["::1", 0]);
  });

  it("keeps an explicit port 0 from the file and defaults an empty host", () => {
    const resolved = resolveConfig(file({ listen: { host: "", port: 0 } }), noArgs, {});
    expect([resolved.host, resolved.port]).toEqual(["127.0.0.1", 0]);
  });

  it("adds --backend flags after the file's backends with ids from their kind", () => {
    const config = file({ backends: [{ id: "openai", kind: BackendKind.OPENAI, url: "http://a" }] });
    const args: ServeArgs = {
      ...noArgs,
      backends: [
        { kind: "openai", url: "http://b" },
        { kind: "ollama", url: "http://c" },
        { kind: "openai", url: "http://d" },
        { kind: "ollama", url: "http://e" },
      ],
    };
    expect(resolveConfig(config, args, {}).backends.map((backend) => [backend.id, backend.kind, backend.url])).toEqual([
      ["openai", "openai", "http://a"],
      ["openai-2", "openai", "http://b"],
      ["ollama", "ollama", "http://c"],
      ["openai-3", "openai", "http://d"],
      ["ollama-2", "ollama", "http://e"],
    ]);
  });

  it("names flag backends `openai`, `openai-2` without a file", () => {
    const args: ServeArgs = { ...noArgs, backends: [{ kind: "openai", url: "http://a" }, { kind: "openai", url: "http://b" }] };
    expect(resolveConfig(undefined, args, {}).backends).toEqual([
      { id: "openai", kind: "openai", url: "http://a", apiKey: undefined, timeoutMs: configDefaults.backendTimeoutMs, models: [] },
      { id: "openai-2", kind: "openai", url: "http://b", apiKey: undefined, timeoutMs: configDefaults.backendTimeoutMs, models: [] },
    ]);
  });

  it("reads the API key from the environment variable the file names", () => {
    const config = file({ backends: [{ id: "a", kind: BackendKind.OPENAI, url: "http://a", apiKeyEnv: "A_TOKEN" }] });
    expect(resolveConfig(config, noArgs, { A_TOKEN: "sk-1", OTHER: "x" }).backends[0]?.apiKey).toBe("sk-1");
  });

  it("fails when the named environment variable is not set", () => {
    const config = file({ backends: [{ id: "a", kind: BackendKind.OPENAI, url: "http://a", apiKeyEnv: "A_TOKEN" }] });
    expect(() => resolveConfig(config, noArgs, { OTHER: "x" })).toThrow(
      new ConfigError('backend "a": environment variable A_TOKEN is not set'),
    );
  });

  it("fails when the named environment variable is empty", () => {
    const config = file({ backends: [{ id: "a", kind: BackendKind.OPENAI, url: "http://a", apiKeyEnv: "A_TOKEN" }] });
    expect(() => resolveConfig(config, noArgs, { A_TOKEN: " " })).toThrow(
      new ConfigError('backend "a": environment variable A_TOKEN is empty'),
    );
  });

  it("fails for a backend without a kind", () => {
    const config = file({ backends: [{ id: "a", url: "http://a" }] });
    expect(() => resolveConfig(config, noArgs, {})).toThrow(new ConfigError('backend "a": kind is required'));
  });

  it("resolves routes, backend policies and observability, with 0 meaning the default", () => {
    const config = file({
      backends: [
        { id: "plain", kind: BackendKind.OPENAI, url: "http://a" },
        {
          id: "tuned",
          kind: BackendKind.OLLAMA,
          url: "http://b",
          maxConcurrent: 4,
          maxQueue: 0,
          circuitBreaker: { failureRatio: 0.25, cooldownMs: 1000 },
          probe: { disabled: true },
        },
      ],
      routes: [{ models: ["qwen*"], ttftTimeoutMs: 5000, retry: { maxAttempts: 1 }, fallbacks: ["tuned/llama3"] }],
      observability: { adminPort: 9100, sessionIdleMs: 0, disableRequestLog: true },
    });
    const resolved = resolveConfig(config, noArgs, {});
    expect(resolved.backends[0]?.policy).toBeUndefined();
    expect(backendPolicyOf(resolved.backends[0]!)).toEqual(defaultBackendPolicy);
    expect(resolved.backends[1]?.policy).toEqual({
      maxConcurrent: 4,
      maxQueue: 0,
      queueTimeoutMs: configDefaults.queueTimeoutMs,
      breaker: { failureRatio: 0.25, minimumRequests: 5, windowMs: 30_000, cooldownMs: 1000 },
      probe: undefined,
    });
    expect(resolved.routes).toEqual([
      {
        models: ["qwen*"],
        policy: {
          ...defaultRoutePolicy,
          ttftTimeoutMs: 5000,
          retry: { ...defaultRoutePolicy.retry, maxAttempts: 1 },
          fallbacks: ["tuned/llama3"],
        },
      },
    ]);
    expect(observabilityOf(resolved)).toEqual({ adminPort: 9100, adminHost: undefined, sessionIdleMs: 1_800_000, requestLog: false });
    expect(observabilityOf(resolveConfig(undefined, noArgs, {}))).toEqual(defaultObservability);
  });
});
