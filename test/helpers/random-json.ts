/**
 * A seeded generator of JSON texts for property-style tests: random values
 * written with random (valid) whitespace between tokens, every number
 * spelling JSON allows and every string escape, so a parser that slices raw
 * text is exercised on more shapes than a hand-written list covers. Seeded,
 * so a failure reproduces.
 */

/** A deterministic pseudo-random source (mulberry32). */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, below). */
  int(below: number): number;
  /** One of the items. */
  pick<T>(items: readonly T[]): T;
}

/**
 * Creates a seeded random source.
 *
 * @example
 * const random = createRandom(42);
 * random.int(10); // the same number on every run
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return { next, int, pick: (items) => items[int(items.length)] as (typeof items)[number] };
}

const numbers = ["0", "-0", "1", "1.0", "-0.50", "1e3", "1E-7", "2.5e+10", "12345678901234567890", "-9223372036854775808", "0.1", "3.14159"];
const stringPieces = [
  "a",
  "key",
  "10",
  "2",
  " ",
  "é",
  "🦙",
  "\\\"",
  "\\\\",
  "\\/",
  "\\b",
  "\\f",
  "\\n",
  "\\r",
  "\\t",
  "\\u00e9",
  "\\u0000",
  "\\ud83e\\udd99",
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
];
const whitespace = ["", "", "", " ", "  ", "\n", "\t", "\r\n", " \n\t "];

/** A random JSON string literal (quotes included), escapes written as escapes. */
function stringLiteral(random: Random): string {
  let text = '"';
  for (let count = random.int(5); count > 0; count--) text += random.pick(stringPieces);
  return `${text}"`;
}

/**
 * A random JSON text without whitespace around the outermost value, nested
 * at most `depth` levels.
 *
 * @example
 * randomJsonText(createRandom(1), 3); // e.g. '{ "10" :[1.0,"\\u00e9"] ,"2":null}'
 */
export function randomJsonText(random: Random, depth: number): string {
  const ws = () => random.pick(whitespace);
  const kind = depth <= 0 ? random.int(4) : random.int(6);
  switch (kind) {
    case 0:
      return random.pick(numbers);
    case 1:
      return stringLiteral(random);
    case 2:
      return random.pick(["true", "false", "null"]);
    case 3:
      return random.pick(["{}", "[]", "{ }", "[\n]"]);
    case 4: {
      const items = Array.from({ length: 1 + random.int(4) }, () => `${ws()}${randomJsonText(random, depth - 1)}${ws()}`);
      return `[${items.join(",")}]`;
    }
    default: {
      const members = Array.from(
        { length: 1 + random.int(4) },
        () => `${ws()}${stringLiteral(random)}${ws()}:${ws()}${randomJsonText(random, depth - 1)}${ws()}`,
      );
      return `{${members.join(",")}}`;
    }
  }
}
