import { create } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { ListenConfigSchema } from "../../gen/protogate/v1/config_pb.js";
import type { BackendKind } from "../backends/backend.js";
import { ConfigError } from "./config-file.js";

/** What `protogate serve` was told on its command line. */
export interface ServeArgs {
  readonly configPath: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly backends: ReadonlyArray<{ readonly kind: BackendKind; readonly url: string }>;
  /** `--allow-host` names, added to the file's `listen.allowed_hosts`; absent when none was given. */
  readonly allowedHosts?: readonly string[];
}

/** A Map, not an object literal: `--backend constructor=…` must not find Object.prototype's. */
const kinds: ReadonlyMap<string, BackendKind> = new Map([
  ["openai", "openai"],
  ["ollama", "ollama"],
]);

/**
 * Parses `serve` flags: `--config FILE`, `--host HOST`, `--port N`,
 * repeatable `--backend KIND=URL` (KIND is `openai` or `ollama`) and
 * repeatable `--allow-host NAME` (checked by the proto's rule for
 * `listen.allowed_hosts`). Also accepts `--flag=value`. Unknown flags are
 * errors, never ignored.
 *
 * @example
 * parseServeArgs(["--port", "0", "--backend", "openai=http://127.0.0.1:8080"]);
 */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  let configPath: string | undefined;
  let host: string | undefined;
  let port: number | undefined;
  const backends: Array<{ kind: BackendKind; url: string }> = [];
  const allowedHosts: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++index];
      if (next === undefined) throw new ConfigError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--config":
        configPath = value();
        break;
      case "--host":
        host = value();
        break;
      case "--port": {
        const text = value();
        const parsed = Number(text);
        if (!/^\d+$/.test(text) || parsed > 65535) throw new ConfigError(`--port must be a number from 0 to 65535, got "${text}"`);
        port = parsed;
        break;
      }
      case "--backend": {
        const text = value();
        const separator = text.indexOf("=");
        const kind = kinds.get(text.slice(0, separator));
        const url = text.slice(separator + 1);
        if (separator < 1 || kind === undefined) throw new ConfigError(`--backend must be KIND=URL with KIND openai or ollama, got "${text}"`);
        if (!/^https?:\/\/[^/]+/.test(url)) throw new ConfigError(`--backend URL must start with http:// or https://, got "${url}"`);
        backends.push({ kind, url });
        break;
      }
      case "--allow-host": {
        const name = value();
        const violation = createValidator().validate(ListenConfigSchema, create(ListenConfigSchema, { allowedHosts: [name] })).violations?.[0];
        if (violation !== undefined) throw new ConfigError(`--allow-host ${violation.message}, got "${name}"`);
        allowedHosts.push(name);
        break;
      }
      default:
        throw new ConfigError(`unknown option "${arg}" (serve takes --config FILE, --host HOST, --port N, --backend KIND=URL, --allow-host NAME)`);
    }
  }
  return { configPath, host, port, backends, ...(allowedHosts.length > 0 ? { allowedHosts } : {}) };
}
