import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { violationsError } from "../chat/violations.js";
import { boundText } from "../log/bounded-text.js";

/** The most of an option key quoted in an error, in characters. */
const maxShownKeyChars = 64;

/** The JSON type a backend option must have. */
export type OptionType = "number" | "integer" | "boolean" | "string" | "string-or-number" | "object" | "array";

/** Backend options a kind of backend accepts, by key. */
export type OptionAllowlist = Readonly<Record<string, OptionType>>;

/**
 * Checks client-supplied backend options against a backend's allowlist and
 * returns them as plain JSON. Unknown keys and wrong types are
 * invalid_argument, naming the field path and (for unknown keys) the keys
 * that are allowed, so nothing is silently dropped or passed through.
 */
export function checkBackendOptions(
  options: JsonObject | undefined,
  allowlist: OptionAllowlist,
  fieldPath: string,
): Record<string, JsonValue> {
  const checked: Record<string, JsonValue> = {};
  if (options === undefined) return checked;
  for (const [key, value] of Object.entries(options)) {
    // A key is quoted back in the error; no allowed key is anywhere near this long.
    const shownKey = boundText(key, maxShownKeyChars);
    const path = `${fieldPath}.${shownKey}`;
    // Own keys only: "constructor" or "__proto__" must be unknown, not Object.prototype's members.
    const expected = Object.hasOwn(allowlist, key) ? allowlist[key] : undefined;
    if (expected === undefined) {
      throw violationsError(
        path,
        "backend_options.unknown_key",
        `unknown option "${shownKey}"; allowed: ${Object.keys(allowlist).sort().join(", ")}`,
      );
    }
    if (value === undefined || !hasType(value, expected)) {
      throw violationsError(path, "backend_options.type", `option "${key}" must be ${describe(expected)}`);
    }
    checked[key] = value;
  }
  return checked;
}

function hasType(value: JsonValue, expected: OptionType): boolean {
  switch (expected) {
    case "number":
      return typeof value === "number";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "string-or-number":
      return typeof value === "string" || typeof value === "number";
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
  }
}

function describe(expected: OptionType): string {
  switch (expected) {
    case "string-or-number":
      return "a string or a number";
    case "integer":
    case "object":
    case "array":
      return `an ${expected}`;
    default:
      return `a ${expected}`;
  }
}

/** An invalid_argument error for a request shape a backend cannot take (e.g. non-object tool arguments for Ollama). */
export function unsupported(field: string, message: string): ConnectError {
  return violationsError(field, "backend.unsupported", message, Code.InvalidArgument);
}
