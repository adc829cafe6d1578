import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { BackendKind, GatewayConfigSchema } from "../../../gen/protogate/v1/config_pb.js";
import { ConfigError, loadConfigFile, parseConfigText } from "../../../server/config/config-file.js";

const yamlConfig = `
# protogate.yaml
listen:
  host: 0.0.0.0
  port: 8081
backends:
  - id: llamacpp
    kind: BACKEND_KIND_OPENAI
    url: http://127.0.0.1:8080
    timeoutMs: 120000
    models: [qwen3]
  - id: ollama
    kind: BACKEND_KIND_OLLAMA
    url: http://127.0.0.1:11434
    api_key_env: OLLAMA_TOKEN
aliases:
  - name: fast
    model: qwen3
limits:
  maxRequestBytes: 1048576
discoveryIntervalMs: 5000
`;

const expected = create(GatewayConfigSchema, {
  listen: { host: "0.0.0.0", port: 8081 },
  backends: [
    { id: "llamacpp", kind: BackendKind.OPENAI, url: "http://127.0.0.1:8080", timeoutMs: 120000, models: ["qwen3"] },
    { id: "ollama", kind: BackendKind.OLLAMA, url: "http://127.0.0.1:11434", apiKeyEnv: "OLLAMA_TOKEN" },
  ],
  aliases: [{ name: "fast", model: "qwen3" }],
  limits: { maxRequestBytes: 1048576 },
  discoveryIntervalMs: 5000,
});

/** The message of the ConfigError that parsing `text` throws. */
function configError(text: string): string {
  try {
    parseConfigText(text, "cfg.yaml");
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfigText", () => {
  it("reads YAML with proto JSON names (camelCase and snake_case)", () => {
    expect(parseConfigText(yamlConfig, "protogate.yaml")).toEqual(expected);
  });

  it("reads the same config written as JSON", () => {
    const json = JSON.stringify({
      listen: { host: "0.0.0.0", port: 8081 },
      backends: [
        { id: "llamacpp", kind: "BACKEND_KIND_OPENAI", url: "http://127.0.0.1:8080", timeout_ms: 120000, models: ["qwen3"] },
        { id: "ollama", kind: "BACKEND_KIND_OLLAMA", url: "http://127.0.0.1:11434", apiKeyEnv: "OLLAMA_TOKEN" },
      ],
      aliases: [{ name: "fast", model: "qwen3" }],
      limits: { max_request_bytes: 1048576 },
      discovery_interval_ms: 5000,
    });
    expect(parseConfigText(json, "protogate.json")).toEqual(expected);
  });

  it.each(["", "\n", "# nothing configured yet\n", "{}"])("accepts an empty file %j as the default config", (text) => {
    expect(parseConfigText(text, "cfg.yaml")).toEqual(create(GatewayConfigSchema));
  });

  it("names an unknown top-level key", () => {
    expect(configError("listen: {}\nbackend: []\n")).toBe(
      'cfg.yaml:\n  backend: unknown key (see docs/config.md for the keys each section takes)',
    );
  });

  it("names an unknown nested key", () => {
    expect(configError("backends:\n  - id: a\n    kind: BACKEND_KIND_OPENAI\n    url: http://x\n    timeout: 5\n")).toBe(
      'cfg.yaml:\n  backends[0].timeout: unknown key (see docs/config.md for the keys each section takes)',
    );
  });

  it("reads routes, backend policies and observability, and checks their rules", () => {
    const config = parseConfigText(
      [
        "backends:",
        "  - {id: a, kind: BACKEND_KIND_OPENAI, url: 'http://x', maxConcurrent: 4, maxQueue: 0, circuitBreaker: {cooldownMs: 1000}, probe: {intervalMs: 500}}",
        "routes:",
        "  - models: ['qwen*']",
        "    ttftTimeoutMs: 5000",
        "    retry: {maxAttempts: 2}",
        "    fallbacks: [a/llama3]",
        "observability: {adminPort: 9100}",
      ].join("\n"),
      "cfg.yaml",
    );
    expect([config.backends[0]?.maxQueue, config.routes[0]?.retry?.maxAttempts, config.observability?.adminPort]).toEqual([0, 2, 9100]);
    expect(configError("routes:\n  - models: ['q*wen']\n")).toBe('cfg.yaml:\n  routes[0].models[0]: does not match regex pattern `^[^*]*[*]?$` [string.pattern]');
    expect(configError("routes:\n  - models: [q]\n    retry: {maxAttempts: 11}\n")).toBe("cfg.yaml:\n  routes[0].retry.max_attempts: must be less than or equal to 10 [uint32.lte]");
    expect(configError("routes:\n  - models: [q]\n    retries: 3\n")).toBe(
      "cfg.yaml:\n  routes[0].retries: unknown key (see docs/config.md for the keys each section takes)",
    );
  });

  it("takes host names and * in listen.allowed_hosts, and names anything else with its index", () => {
    expect(parseConfigText("listen:\n  allowedHosts: [gateway.internal, '*', my-box]\n", "cfg.yaml").listen?.allowedHosts).toEqual([
      "gateway.internal",
      "*",
      "my-box",
    ]);
    expect(configError("listen:\n  allowed_hosts: [ok.example, 'http://evil.example', 'host:7070', '*.example']\n").split("\n")).toEqual([
      "cfg.yaml:",
      "  listen.allowed_hosts[1]: must be a host name such as gateway.internal, or * [listen.allowed_host]",
      "  listen.allowed_hosts[2]: must be a host name such as gateway.internal, or * [listen.allowed_host]",
      "  listen.allowed_hosts[3]: must be a host name such as gateway.internal, or * [listen.allowed_host]",
    ]);
  });

  it("takes origins in listen.cors_origins, and names anything that is not one", () => {
    expect(parseConfigText("listen:\n  corsOrigins: ['http://localhost:5173', 'https://ui.example.com']\n", "cfg.yaml").listen?.corsOrigins).toEqual([
      "http://localhost:5173",
      "https://ui.example.com",
    ]);
    const bad = ["localhost:5173", "http://ui.example.com/app", "*", "http://*.example.com", "ftp://ui.example.com", "http://user@ui.example.com"];
    expect(configError(`listen:\n  cors_origins: ${JSON.stringify(bad)}\n`).split("\n")).toEqual([
      "cfg.yaml:",
      ...bad.map((_, index) => `  listen.cors_origins[${index}]: must be an origin: http:// or https://, a host and an optional port, nothing after [listen.cors_origin]`),
    ]);
  });

  it("reports a value of the wrong type", () => {
    expect(configError("listen:\n  port: eighty\n")).toBe(
      'cfg.yaml: cannot decode field protogate.v1.ListenConfig.port from JSON: expected number (uint32), got "eighty"',
    );
  });

  it("reports rule violations with their field paths", () => {
    expect(configError("backends:\n  - id: a\n    kind: BACKEND_KIND_OPENAI\n    url: not a url\n")).toBe(
      "cfg.yaml:\n  backends[0].url: must be a valid URI [string.uri]",
    );
    const message = configError(
      "listen: {port: 70000}\nbackends:\n  - {id: ok, kind: BACKEND_KIND_OPENAI, url: 'http://x'}\n  - {id: Bad, url: 'http://y'}\n",
    );
    expect(message.split("\n")).toEqual([
      "cfg.yaml:",
      "  listen.port: must be less than or equal to 65535 [uint32.lte]",
      expect.stringMatching(/^ {2}backends\[1\]\.id: .*\[string\.pattern\]$/),
      expect.stringMatching(/^ {2}backends\[1\]\.kind: .*\[enum\.not_in\]$/),
    ]);
  });

  it("rejects duplicate backend ids at the second one", () => {
    expect(
      configError(
        "backends:\n  - {id: a, kind: BACKEND_KIND_OPENAI, url: 'http://x'}\n  - {id: a, kind: BACKEND_KIND_OLLAMA, url: 'http://y'}\n",
      ),
    ).toBe('cfg.yaml:\n  backends[1].id: duplicate backend id "a"');
  });

  it("reports text that is neither YAML nor JSON", () => {
    expect(configError("listen: [unclosed\n")).toMatch(/^cfg\.yaml: not valid YAML or JSON: /);
  });
});

describe("loadConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "protogate-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads and checks a file", () => {
    const path = join(dir, "protogate.yaml");
    writeFileSync(path, yamlConfig);
    expect(loadConfigFile(path)).toEqual(expected);
  });

  it("names the file it cannot read and why", () => {
    const path = join(dir, "missing.yaml");
    expect(() => loadConfigFile(path)).toThrow(new ConfigError(`${path}: cannot read the file (ENOENT)`));
  });

  it("reads the repository's example config, also with its commented-out listen options switched on", () => {
    const example = fileURLToPath(new URL("../../../protogate.example.yaml", import.meta.url));
    expect(loadConfigFile(example).backends.length).toBeGreaterThan(0);
    const path = join(dir, "example-uncommented.yaml");
    writeFileSync(path, readFileSync(example, "utf8").replace("# allowedHosts:", "allowedHosts:").replace("# corsOrigins:", "corsOrigins:"));
    const listen = loadConfigFile(path).listen;
    expect([listen?.allowedHosts.length, listen?.corsOrigins.length]).toEqual([1, 1]);
  });

  it("names the file in check errors", () => {
    const path = join(dir, "bad.json");
    writeFileSync(path, '{"listen": {"hots": "x"}}');
    expect(() => loadConfigFile(path)).toThrow(`${path}:\n  listen.hots: unknown key`);
  });
});
