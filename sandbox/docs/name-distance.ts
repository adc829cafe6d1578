/**
 * How far apart two identifiers are, for "did you mean" rankings: the
 * optimal-string-alignment edit distance (insertions, deletions,
 * substitutions and adjacent transpositions), ignoring case.
 */
export function nameDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  if (s === t) return 0;
  if (s.length === 0) return t.length;
  if (t.length === 0) return s.length;
  // Three rolling rows are enough for the transposition lookback.
  let before = new Array<number>(t.length + 1).fill(0);
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  let current = new Array<number>(t.length + 1).fill(0);
  for (let i = 1; i <= s.length; i++) {
    current[0] = i;
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, (before[j - 2] ?? 0) + 1);
      }
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[t.length] ?? 0;
}

/**
 * Orders names by closeness to `wanted`: by edit distance, then names that
 * contain it or are contained in it, then alphabetically. Returns a new array.
 */
export function rankByName<T>(items: readonly T[], nameOf: (item: T) => string, wanted: string): T[] {
  const key = (item: T): [number, number, string] => {
    const name = nameOf(item);
    const lower = name.toLowerCase();
    const w = wanted.toLowerCase();
    const overlap = w.length > 0 && (lower.includes(w) || w.includes(lower)) ? 0 : 1;
    return [nameDistance(name, wanted), overlap, name];
  };
  return items
    .map((item) => ({ item, key: key(item) }))
    .sort((x, y) => x.key[0] - y.key[0] || x.key[1] - y.key[1] || x.key[2].localeCompare(y.key[2]))
    .map(({ item }) => item);
}
