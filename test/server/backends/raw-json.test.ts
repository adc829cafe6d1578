import { describe, expect, it } from "vitest";
import { parseRawJson, type RawJsonValue, rawMember, toPlainJson } from "../../../server/backends/raw-json.js";
import { createRandom, randomJsonText } from "../../helpers/random-json.js";
import { ORDER_AND_PRECISION_ARGUMENTS, SPACED_SCHEMA, TRICKY_ARGUMENTS } from "../../helpers/tricky-json.js";

function* walk(node: RawJsonValue): Generator<RawJsonValue> {
  yield node;
  if (node.kind === "object") for (const [, value] of node.entries) yield* walk(value);
  if (node.kind === "array") for (const item of node.items) yield* walk(item);
}

/** Asserts the raw-text property for one JSON text without outer whitespace. */
function expectRawSlices(text: string): void {
  const root = parseRawJson(text);
  expect(root.raw).toBe(text);
  expect(toPlainJson(root)).toEqual(JSON.parse(text));
  for (const node of walk(root)) {
    expect(JSON.parse(node.raw), node.raw).toEqual(toPlainJson(node));
    expect(node.raw).toMatch(/^\S[\s\S]*$/);
    expect(node.raw).toMatch(/\S$/);
  }
}

const handWritten = [
  ORDER_AND_PRECISION_ARGUMENTS,
  TRICKY_ARGUMENTS,
  SPACED_SCHEMA,
  "{}",
  "[]",
  "{ }",
  "[ ]",
  '{"a":1}',
  '{ "a" : 1 }',
  '{\n  "a": [1, 2.0, -3e-2],\r\n\t"b": {"c": null}\n}',
  '[1 ,2 , 3]',
  '"just a string"',
  '"\\u0000\\ud83e\\udd99\\/"',
  "0",
  "-0",
  "1.0",
  "12345678901234567890",
  "true",
  "false",
  "null",
  '{"a":1,"a":2}',
];

describe("parseRawJson", () => {
  it.each(handWritten)("keeps the exact text of every value in %s", (text) => {
    expectRawSlices(text);
  });

  it("keeps the exact text of every value in 1000 generated JSON texts", () => {
    const random = createRandom(20240611);
    for (let run = 0; run < 1000; run++) expectRawSlices(randomJsonText(random, 4));
  });

  it("excludes whitespace around the outermost value from its raw text", () => {
    const random = createRandom(7);
    for (let run = 0; run < 100; run++) {
      const text = randomJsonText(random, 3);
      expect(parseRawJson(` \n\t${text}\r\n `).raw).toBe(text);
    }
  });

  it("slices nested values exactly, e.g. an object's arguments inside an Ollama line", () => {
    const line = `{"message":{"tool_calls":[{"function":{"name":"f","arguments":${TRICKY_ARGUMENTS}}}]},"done":false}`;
    const calls = rawMember(rawMember(parseRawJson(line), "message"), "tool_calls");
    const first = calls?.kind === "array" ? calls.items[0] : undefined;
    expect(rawMember(rawMember(first, "function"), "arguments")?.raw).toBe(TRICKY_ARGUMENTS);
  });

  it("looks members up like JSON.parse: the last duplicate wins, non-objects have none", () => {
    const value = parseRawJson('{"a":1,"b":{"c":true},"a":[2]}');
    expect(rawMember(value, "a")?.raw).toBe("[2]");
    expect(rawMember(value, "missing")).toBeUndefined();
    expect(rawMember(parseRawJson("[1]"), "0")).toBeUndefined();
    expect(rawMember(undefined, "a")).toBeUndefined();
  });

  it("decodes string escapes exactly as JSON.parse does", () => {
    const value = parseRawJson(String.raw`"\" \\n \u00e9 \ud83e\udd99 \/ \b\f\n\r\t"`);
    expect(value).toEqual({ kind: "string", raw: String.raw`"\" \\n \u00e9 \ud83e\udd99 \/ \b\f\n\r\t"`, value: '" \\n é 🦙 / \b\f\n\r\t' });
  });
});

describe("parseRawJson on invalid input", () => {
  const invalid = [
    "",
    " ",
    "{",
    "}",
    "[",
    "[1,]",
    '{"a":1,}',
    "{,}",
    '{"a" 1}',
    '{"a":1}}',
    "[1 2]",
    "{'a':1}",
    "{a:1}",
    "01",
    "1.",
    ".5",
    "+1",
    "-",
    "1e",
    "0x10",
    "NaN",
    "Infinity",
    "tru",
    "nul",
    "True",
    '"abc',
    '"\\x"',
    '"\\u12"',
    '"a\nb"',
    '"\t"',
    "1 2",
    "\u00a01",
    '"\\',
  ];

  it.each(invalid)("throws a SyntaxError for %j, like JSON.parse", (text) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(() => parseRawJson(text)).toThrow(SyntaxError);
  });

  it("accepts exactly what JSON.parse accepts for 2000 mutated texts", () => {
    const random = createRandom(99);
    const inserts = ["", ",", ":", '"', "\\", "{", "}", "[", "]", " ", "0", "-", ".", "e", "\n", "\u0001"];
    for (let run = 0; run < 2000; run++) {
      const text = randomJsonText(random, 3);
      const at = random.int(text.length + 1);
      const mutated = text.slice(0, at) + random.pick(inserts) + text.slice(at + random.int(2));
      let accepted = true;
      try {
        JSON.parse(mutated);
      } catch {
        accepted = false;
      }
      if (accepted) {
        expect(parseRawJson(mutated).raw, mutated).toBe(mutated.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ""));
      } else {
        expect(() => parseRawJson(mutated), mutated).toThrow(SyntaxError);
      }
    }
  });
});
