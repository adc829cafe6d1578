import { readFileSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { parse as parseYaml } from "yaml";
import { type GatewayConfig, GatewayConfigSchema } from "../../gen/protogate/v1/config_pb.js";

/** A config problem, with the file and the field path it concerns. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads a YAML or JSON config file and checks it against the
 * `protogate.v1.GatewayConfig` message: unknown keys and wrong types are
 * rejected by the strict proto JSON parser, rule violations by
 * protovalidate. The proto is the one source of truth for the schema.
 *
 * @example
 * const config = loadConfigFile("protogate.yaml");
 */
export function loadConfigFile(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return parseConfigText(text, path);
}

/** Parses and checks config text; `source` names it in error messages. */
export function parseConfigText(text: string, source: string): GatewayConfig {
  let json: unknown;
  try {
    json = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (json === null || json === undefined) json = {};
  let config: GatewayConfig;
  try {
    config = fromJson(GatewayConfigSchema, json as JsonValue, { ignoreUnknownFields: false });
  } catch (error) {
    throw new ConfigError(`${source}: ${(error as Error).message}`);
  }
  const result = createValidator().validate(GatewayConfigSchema, config);
  if (result.kind === "invalid") {
    throw new ConfigError(`${source}:\n${result.violations.map((violation) => `  ${violation.toString()}`).join("\n")}`);
  }
  if (result.kind === "error") throw new ConfigError(`${source}: ${result.error.message}`);
  const ids = new Set<string>();
  config.backends.forEach((backend, index) => {
    if (ids.has(backend.id)) throw new ConfigError(`${source}:\n  backends[${index}].id: duplicate backend id "${backend.id}"`);
    ids.add(backend.id);
  });
  return config;
}
