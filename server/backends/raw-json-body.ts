import { randomBytes } from "node:crypto";

/**
 * Builds a JSON request body in which some values are spliced in as exact
 * source text instead of being re-serialised.
 *
 * Why: a tool's JSON Schema, a response schema and (for Ollama) earlier
 * tool-call arguments must reach the backend exactly as the client wrote
 * them. Each splice is a placeholder string made with a per-body random
 * nonce, so no client-supplied string can collide with it.
 */
export interface RawJsonBodyBuilder {
  /** A placeholder to put where `jsonText` (already checked to be valid JSON) goes. */
  raw(jsonText: string): string;
  /** Serialises `value` with every placeholder replaced by its text. */
  stringify(value: unknown): string;
}

/**
 * Creates a builder for one request body.
 *
 * @example
 * const body = createRawJsonBody();
 * body.stringify({ parameters: body.raw('{"b":1,"a":2}') }); // '{"parameters":{"b":1,"a":2}}'
 */
export function createRawJsonBody(): RawJsonBodyBuilder {
  const splices: string[] = [];
  // Made on the first splice: most bodies (no tools, no schema) need neither.
  let nonce: string | undefined;
  return {
    raw(jsonText) {
      nonce ??= randomBytes(9).toString("base64url");
      splices.push(jsonText);
      return `\u0000raw-${nonce}-${splices.length - 1}\u0000`;
    },
    stringify(value) {
      const text = JSON.stringify(value);
      if (nonce === undefined) return text;
      // JSON.stringify writes a marker's NUL characters as \u0000; the nonce is base64url, so it needs no escaping.
      const quotedMarker = new RegExp(`"\\\\u0000raw-${nonce}-(\\d+)\\\\u0000"`, "g");
      // One pass: spliced text is never searched again, and a long history costs one scan, not one per splice.
      return text.replace(quotedMarker, (quoted, index: string) => splices[Number(index)] ?? quoted);
    },
  };
}
