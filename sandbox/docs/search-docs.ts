import type { DocsEntry, DocsIndex } from "./docs-index.js";
import { nameDistance } from "./name-distance.js";

/** Splits `gateway.inference.chatStream`, `tool_call_id` or free text into lower-case words. */
function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/** One entry split into the words a query is matched against. */
interface SearchableEntry {
  readonly entry: DocsEntry;
  readonly path: string;
  readonly lastSegment: string;
  readonly pathWords: ReadonlySet<string>;
  readonly signatureWords: ReadonlySet<string>;
  readonly docWords: ReadonlySet<string>;
}

/** The words of every entry, split once per index (an index does not change once made). */
const searchable = new WeakMap<DocsIndex, readonly SearchableEntry[]>();

function searchableEntries(index: DocsIndex): readonly SearchableEntry[] {
  let entries = searchable.get(index);
  if (entries === undefined) {
    entries = index.entries.map((entry) => {
      const path = entry.path.toLowerCase();
      return {
        entry,
        path,
        lastSegment: path.slice(path.lastIndexOf(".") + 1),
        pathWords: new Set(words(entry.path)),
        signatureWords: new Set(words(entry.signature)),
        docWords: new Set(words(entry.doc)),
      };
    });
    searchable.set(index, entries);
  }
  return entries;
}

function score(s: SearchableEntry, query: string, queryWords: readonly string[]): number {
  let total = 0;
  if (s.path === query) total += 100;
  if (s.lastSegment === query.replace(/[^a-z0-9_]/g, "")) total += 40;
  if (query.length >= 3 && s.path.includes(query)) total += 15;
  for (const w of queryWords) {
    if (s.pathWords.has(w)) total += 10;
    else if ([...s.pathWords].some((p) => p.startsWith(w) && w.length >= 3)) total += 5;
    else if (w.length >= 4 && [...s.pathWords].some((p) => nameDistance(p, w) <= 2)) total += 3;
    if (s.signatureWords.has(w)) total += 3;
    if (s.docWords.has(w)) total += 1;
  }
  if (total > 0 && s.entry.kind === "method") total += 2;
  if (total > 0 && s.entry.kind === "service") total += 1;
  return total;
}

/**
 * Finds the docs entries that best match a query (a symbol path, a name, a
 * misspelled name or a few words), best first.
 *
 * @example
 * searchDocs(index, "tool calls", 5).map((e) => e.path);
 */
export function searchDocs(index: DocsIndex, query: string, limit = 10): DocsEntry[] {
  const queryWords = words(query);
  if (queryWords.length === 0 || limit <= 0) return [];
  const normalized = query.trim().toLowerCase();
  return searchableEntries(index)
    .map((s, order) => ({ entry: s.entry, order, score: score(s, normalized, queryWords) }))
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .slice(0, limit)
    .map((s) => s.entry);
}
