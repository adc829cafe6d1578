/**
 * A JSON parser that remembers the exact source text of every value.
 *
 * Why: Ollama's native API sends tool-call arguments as a JSON object, not
 * a string. `JSON.parse` + `JSON.stringify` would reorder integer-like keys
 * ("10" before "2"), rewrite numbers (1.0 → 1) and lose 64-bit precision.
 * Tool calls must reach the client byte for byte, so we slice the object's
 * raw text out of the line instead of re-serialising it.
 */

/** A parsed JSON value with the exact text it was parsed from. */
export type RawJsonValue =
  | { readonly kind: "object"; readonly raw: string; readonly entries: ReadonlyArray<readonly [string, RawJsonValue]> }
  | { readonly kind: "array"; readonly raw: string; readonly items: readonly RawJsonValue[] }
  | { readonly kind: "string"; readonly raw: string; readonly value: string }
  | { readonly kind: "number"; readonly raw: string }
  | { readonly kind: "boolean"; readonly raw: string; readonly value: boolean }
  | { readonly kind: "null"; readonly raw: string };

/** Parses `text` as one JSON value; throws SyntaxError on invalid JSON. */
export function parseRawJson(text: string): RawJsonValue {
  const parser = new RawJsonParser(text);
  const value = parser.parseValue();
  parser.skipWhitespace();
  parser.expectEnd();
  return value;
}

/** Looks up a member of an object value by key (the last one wins, like JSON.parse). */
export function rawMember(value: RawJsonValue | undefined, key: string): RawJsonValue | undefined {
  if (value?.kind !== "object") return undefined;
  let found: RawJsonValue | undefined;
  for (const [entryKey, entryValue] of value.entries) if (entryKey === key) found = entryValue;
  return found;
}

/** The value as `JSON.parse` would have returned it, for a caller that also needs the raw text. */
export function toPlainJson(value: RawJsonValue): unknown {
  switch (value.kind) {
    case "object":
      // Object.fromEntries, like JSON.parse, makes "__proto__" an own key, and the last duplicate wins.
      return Object.fromEntries(value.entries.map(([key, item]) => [key, toPlainJson(item)]));
    case "array":
      return value.items.map(toPlainJson);
    case "string":
    case "boolean":
      return value.value;
    case "number":
      return Number(value.raw);
    case "null":
      return null;
  }
}

const numberPattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class RawJsonParser {
  private position = 0;
  constructor(private readonly text: string) {}

  parseValue(): RawJsonValue {
    this.skipWhitespace();
    const start = this.position;
    const char = this.text[this.position];
    switch (char) {
      case "{":
        return this.parseObject(start);
      case "[":
        return this.parseArray(start);
      case '"': {
        const value = this.parseString();
        return { kind: "string", raw: this.text.slice(start, this.position), value };
      }
      case "t":
        return this.parseLiteral("true", { kind: "boolean", raw: "true", value: true });
      case "f":
        return this.parseLiteral("false", { kind: "boolean", raw: "false", value: false });
      case "n":
        return this.parseLiteral("null", { kind: "null", raw: "null" });
      default: {
        numberPattern.lastIndex = start;
        const match = numberPattern.exec(this.text);
        if (match === null) throw this.error("unexpected character");
        this.position = start + match[0].length;
        return { kind: "number", raw: match[0] };
      }
    }
  }

  skipWhitespace(): void {
    while (this.position < this.text.length) {
      const char = this.text.charCodeAt(this.position);
      if (char !== 0x20 && char !== 0x0a && char !== 0x0d && char !== 0x09) return;
      this.position++;
    }
  }

  expectEnd(): void {
    if (this.position !== this.text.length) throw this.error("unexpected trailing text");
  }

  private parseObject(start: number): RawJsonValue {
    this.position++;
    const entries: Array<readonly [string, RawJsonValue]> = [];
    this.skipWhitespace();
    if (this.text[this.position] === "}") {
      this.position++;
      return { kind: "object", raw: this.text.slice(start, this.position), entries };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') throw this.error("expected a key");
      const key = this.parseString();
      this.skipWhitespace();
      this.expectChar(":");
      entries.push([key, this.parseValue()]);
      this.skipWhitespace();
      if (this.text[this.position] === ",") {
        this.position++;
        continue;
      }
      this.expectChar("}");
      return { kind: "object", raw: this.text.slice(start, this.position), entries };
    }
  }

  private parseArray(start: number): RawJsonValue {
    this.position++;
    const items: RawJsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.position] === "]") {
      this.position++;
      return { kind: "array", raw: this.text.slice(start, this.position), items };
    }
    for (;;) {
      items.push(this.parseValue());
      this.skipWhitespace();
      if (this.text[this.position] === ",") {
        this.position++;
        continue;
      }
      this.expectChar("]");
      return { kind: "array", raw: this.text.slice(start, this.position), items };
    }
  }

  /** Scans a string literal; one with escapes is decoded with JSON.parse (exact escapes). */
  private parseString(): string {
    const start = this.position;
    this.position++;
    let escaped = false;
    while (this.position < this.text.length) {
      const char = this.text.charCodeAt(this.position);
      if (char === 0x5c) {
        escaped = true;
        this.position += 2;
        continue;
      }
      if (char < 0x20) throw this.error("control character in string");
      this.position++;
      if (char === 0x22) {
        // Without escapes the text between the quotes is the value: most keys and values need no decoding.
        return escaped ? (JSON.parse(this.text.slice(start, this.position)) as string) : this.text.slice(start + 1, this.position - 1);
      }
    }
    throw this.error("unterminated string");
  }

  private parseLiteral(word: string, value: RawJsonValue): RawJsonValue {
    if (!this.text.startsWith(word, this.position)) throw this.error("unexpected character");
    this.position += word.length;
    return value;
  }

  private expectChar(char: string): void {
    if (this.text[this.position] !== char) throw this.error(`expected "${char}"`);
    this.position++;
  }

  private error(message: string): SyntaxError {
    return new SyntaxError(`${message} at position ${this.position} of JSON text`);
  }
}
