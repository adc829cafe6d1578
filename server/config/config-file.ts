import { readFileSync } from "node:fs";
import { type DescMessage, fromJson, type JsonValue } from "@bufbuild/protobuf";
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
  const unknownKey = findUnknownKey(GatewayConfigSchema, json, "");
  if (unknownKey !== undefined) {
    throw new ConfigError(`${source}:\n  ${unknownKey}: unknown key (see docs/config.md for the keys each section takes)`);
  }
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

/**
 * The path of the first key in `json` that `schema` does not have, e.g.
 * `limits.maxRequestByte` or `backends[1].urll`. The proto JSON parser
 * rejects unknown keys too, but names only the message type, not where the
 * key is; this walk gives the path a person needs to fix the file.
 */
function findUnknownKey(schema: DescMessage, json: unknown, path: string): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const field = schema.fields.find((candidate) => candidate.jsonName === key || candidate.name === key);
    const fieldPath = path === "" ? key : `${path}.${key}`;
    if (field === undefined) return fieldPath;
    if (field.fieldKind === "message") {
      const found = findUnknownKey(field.message, value, fieldPath);
      if (found !== undefined) return found;
    }
    if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(value)) {
      for (const [index, item] of value.entries()) {
        const found = findUnknownKey(field.message, item, `${fieldPath}[${index}]`);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}
