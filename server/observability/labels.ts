import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";

/** The label used for a value outside its allowlist (a model not in the catalog, an unknown method). */
export const unknownLabel = "unknown";

/** The label used when a request never got as far as a model or backend. */
export const noneLabel = "none";

const knownCodes: ReadonlySet<number> = new Set(
  Object.values(Code).filter((value): value is Code => typeof value === "number"),
);

/**
 * The label of an RPC outcome: "ok", a Connect code name such as
 * "invalid_argument" (connect's fixed list), or "unknown" for a number
 * outside the enum, so a code label can never grow past 17 values.
 */
export function codeLabel(code: Code | "ok"): string {
  if (code === "ok") return "ok";
  return knownCodes.has(code) ? codeToString(code) : unknownLabel;
}
