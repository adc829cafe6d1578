/**
 * The searchable documentation of the sandbox SDK: one entry per exposed
 * service, method, message, field and enum, written next to the declarations
 * by the code generator and read by the checker (help texts) and by whoever
 * offers a docs search to the model.
 */

/** What a docs entry describes. */
export type DocsEntryKind = "service" | "method" | "message" | "field" | "enum";

/** One documented symbol of the SDK. */
export interface DocsEntry {
  /**
   * How the model refers to it: `gateway.inference` (service),
   * `gateway.inference.chat` (method), `ChatRequest` (message or enum),
   * `ChatRequest.messages` (field).
   */
  readonly path: string;
  /** What it is. */
  readonly kind: DocsEntryKind;
  /** The Protobuf element it comes from, for example `protogate.v1.ChatRequest.messages`. */
  readonly protoName: string;
  /**
   * The TypeScript the model writes against: `chat(request: ChatRequest):
   * Promise<ChatResponse>`, `messages: Message[]`, `type Role = "ROLE_SYSTEM" | …`.
   */
  readonly signature: string;
  /** The documentation: the proto comment, then formats and rules in words. */
  readonly doc: string;
}

/** All docs of one generated SDK surface. */
export interface DocsIndex {
  /** Format version of this index. */
  readonly version: 1;
  /** The entries, in declaration order (services first). */
  readonly entries: readonly DocsEntry[];
}

const kinds: ReadonlySet<string> = new Set<DocsEntryKind>([
  "service",
  "method",
  "message",
  "field",
  "enum",
]);

/** The result of reading a docs index from untrusted JSON. */
export type ParseDocsIndexResult =
  | { readonly kind: "ok"; readonly index: DocsIndex }
  | { readonly kind: "invalid"; readonly reason: string };

/**
 * Checks that a parsed JSON value (for example the contents of
 * `gen/sandbox/docs-index.json`) is a docs index, and returns it typed.
 *
 * @example
 * const parsed = parseDocsIndex(JSON.parse(readFileSync(path, "utf8")));
 * if (parsed.kind === "ok") use(parsed.index);
 */
export function parseDocsIndex(json: unknown): ParseDocsIndexResult {
  if (typeof json !== "object" || json === null) {
    return { kind: "invalid", reason: "not an object" };
  }
  const { version, entries } = json as { version?: unknown; entries?: unknown };
  if (version !== 1) {
    return { kind: "invalid", reason: `unsupported version ${String(version)}` };
  }
  if (!Array.isArray(entries)) {
    return { kind: "invalid", reason: "entries is not an array" };
  }
  const checked: DocsEntry[] = [];
  for (const [i, entry] of entries.entries()) {
    if (typeof entry !== "object" || entry === null) {
      return { kind: "invalid", reason: `entries[${i}] is not an object` };
    }
    const e = entry as Record<string, unknown>;
    for (const key of ["path", "kind", "protoName", "signature", "doc"] as const) {
      if (typeof e[key] !== "string") {
        return { kind: "invalid", reason: `entries[${i}].${key} is not a string` };
      }
    }
    if (!kinds.has(e.kind as string)) {
      return { kind: "invalid", reason: `entries[${i}].kind is unknown` };
    }
    checked.push({
      path: e.path as string,
      kind: e.kind as DocsEntryKind,
      protoName: e.protoName as string,
      signature: e.signature as string,
      doc: e.doc as string,
    });
  }
  return { kind: "ok", index: { version: 1, entries: checked } };
}
