import { describe, expect, it } from "vitest";
import { createRawJsonBody } from "../../../server/backends/raw-json-body.js";
import { SPACED_SCHEMA, TRICKY_ARGUMENTS } from "../../helpers/tricky-json.js";

describe("createRawJsonBody", () => {
  it("splices raw texts verbatim where their placeholders are", () => {
    const body = createRawJsonBody();
    const text = body.stringify({
      model: "m",
      tools: [{ parameters: body.raw(SPACED_SCHEMA) }, { parameters: body.raw("{}") }],
      seed: body.raw("-9223372036854775808"),
      arguments: body.raw(TRICKY_ARGUMENTS),
    });
    expect(text).toBe(
      `{"model":"m","tools":[{"parameters":${SPACED_SCHEMA}},{"parameters":{}}],"seed":-9223372036854775808,"arguments":${TRICKY_ARGUMENTS}}`,
    );
  });

  it("serialises a body without splices like JSON.stringify", () => {
    const value = { a: "x", b: [1, null, true], c: { d: "\u0000" } };
    expect(createRawJsonBody().stringify(value)).toBe(JSON.stringify(value));
  });

  it("inserts replacement patterns like $& and $' literally", () => {
    const body = createRawJsonBody();
    const raw = `{"pattern":"$& $' $\` $$ $1"}`;
    expect(body.stringify({ schema: body.raw(raw), after: "tail" })).toBe(`{"schema":${raw},"after":"tail"}`);
  });

  it("keeps a client string that looks like a placeholder a plain string", () => {
    const other = createRawJsonBody();
    const foreignMarker = other.raw("1");
    const lookalikes = [foreignMarker, "\u0000raw-AAAAAAAAAAAA-0\u0000", "raw-0", '\\u0000raw-x-0\\u0000'];
    const body = createRawJsonBody();
    const value = { spliced: body.raw("[1, 2]"), strings: lookalikes, [foreignMarker]: "key" };
    const text = body.stringify(value);
    expect(text.startsWith('{"spliced":[1, 2],"strings":')).toBe(true);
    expect(JSON.parse(text)).toEqual({ spliced: [1, 2], strings: lookalikes, [foreignMarker]: "key" });
  });

  it("uses a different placeholder for every body", () => {
    const markers = new Set(Array.from({ length: 50 }, () => createRawJsonBody().raw("0")));
    expect(markers.size).toBe(50);
  });

  it("never scans a spliced text for placeholders, even one that quotes a later placeholder", () => {
    const body = createRawJsonBody();
    const first = body.raw("{}");
    const predicted = first.replace(/-0\u0000$/, "-2\u0000");
    const quoting = body.raw(JSON.stringify({ text: predicted }));
    const third = body.raw("3");
    expect(third).toBe(predicted);
    const text = body.stringify({ a: first, b: quoting, c: third });
    expect(JSON.parse(text)).toEqual({ a: {}, b: { text: predicted }, c: 3 });
  });
});
