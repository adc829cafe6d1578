/**
 * JSON texts that break when a gateway re-serialises instead of passing
 * bytes through: integer-like keys that JSON.parse reorders ("10" before
 * "2"), number spellings it rewrites (1.0, 1e3, -0.50), a 64-bit integer it
 * rounds, escapes it normalises (\" \\n \u00e9), raw non-ASCII and a
 * surrogate pair. Tests assert these arrive byte for byte.
 */

/** Tool-call arguments with every hazard in one compact object. */
export const TRICKY_ARGUMENTS = String.raw`{"10":1,"2":1.0,"n":12345678901234567890,"s":"quote \" newline-escape \\n e-acute \u00e9 raw é 🦙","nested":{"z":[1e3,-0.50,true,null]}}`;

/** The argument text from the task brief, as Ollama would send it. */
export const ORDER_AND_PRECISION_ARGUMENTS = '{"10":1,"2":1.0,"n":12345678901234567890}';

/** Non-canonical spacing and key order, as a hand-written JSON Schema has. */
export const SPACED_SCHEMA = `{ "type" : "object",
  "properties": { "b": {"type":"integer"}, "a": { "type": "number", "default": 1.0 } },
  "required": [ "b" ] }`;
