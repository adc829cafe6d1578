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

function score(entry: DocsEntry, query: string, queryWords: readonly string[]): number {
  const path = entry.path.toLowerCase();
  const q = query.trim().toLowerCase();
  let total = 0;
  if (path === q) total += 100;
  const lastSegment = path.slice(path.lastIndexOf(".") + 1);
  if (lastSegment === q.replace(/[^a-z0-9_]/g, "")) total += 40;
  if (q.length >= 3 && path.includes(q)) total += 15;
  const pathWords = new Set(words(entry.path));
  const signatureWords = new Set(words(entry.signature));
  const docWords = new Set(words(entry.doc));
  for (const w of queryWords) {
    if (pathWords.has(w)) total += 10;
    else if ([...pathWords].some((p) => p.startsWith(w) && w.length >= 3)) total += 5;
    else if (w.length >= 4 && [...pathWords].some((p) => nameDistance(p, w) <= 2)) total += 3;
    if (signatureWords.has(w)) total += 3;
    if (docWords.has(w)) total += 1;
  }
  if (total > 0 && entry.kind === "method") total += 2;
  if (total > 0 && entry.kind === "service") total += 1;
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
  return index.entries
    .map((entry, order) => ({ entry, order, score: score(entry, query, queryWords) }))
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .slice(0, limit)
    .map((s) => s.entry);
}
