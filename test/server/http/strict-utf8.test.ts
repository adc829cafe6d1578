import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { firstInvalidUtf8Offset, getMessageUtf8Error, strictUtf8Decoder } from "../../../server/http/strict-utf8.js";
import { createRandom } from "../../helpers/random-json.js";

/** Whether a fatal decoder accepts the bytes as complete UTF-8 text. */
function decodesFatally(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Whether a fatal decoder in streaming mode has seen an error within these bytes (a cut sequence at the end is not one yet). */
function streamsFatally(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

describe("firstInvalidUtf8Offset", () => {
  it("finds exactly where a fatal TextDecoder's view of the bytes breaks, for 20 000 seeded random inputs", () => {
    const random = createRandom(42);
    // Bytes near UTF-8's edges: ASCII, continuations, every kind of lead, and the leads with narrowed second bytes.
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
    let invalid = 0;
    for (let sample = 0; sample < 20_000; sample++) {
      const bytes = Uint8Array.from({ length: random.int(12) }, () => interesting[random.int(interesting.length)] ?? 0);
      const offset = firstInvalidUtf8Offset(bytes);
      if (offset === -1) {
        expect(decodesFatally(bytes), Buffer.from(bytes).toString("hex")).toBe(true);
        continue;
      }
      invalid++;
      // Everything before the offset is fine, and the sequence that starts there is not, whatever follows it.
      expect(streamsFatally(bytes.subarray(0, offset)), Buffer.from(bytes).toString("hex")).toBe(true);
      expect(decodesFatally(bytes.subarray(0, Math.min(bytes.length, offset + 4))), Buffer.from(bytes).toString("hex")).toBe(false);
    }
    // The inputs exercise both outcomes.
    expect(invalid).toBeGreaterThan(5_000);
    expect(invalid).toBeLessThan(20_000);
  });

  it("accepts every kind of well-formed character and rejects surrogates, overlongs and code points past U+10FFFF", () => {
    expect(firstInvalidUtf8Offset(Buffer.from("a é € 😀 \u{10ffff} \ufeff", "utf8"))).toBe(-1);
    expect(firstInvalidUtf8Offset(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // U+D800, a surrogate
    expect(firstInvalidUtf8Offset(Buffer.from([0x61, 0x62, 0xc0, 0xaf]))).toBe(2); // an overlong "/"
    expect(firstInvalidUtf8Offset(Buffer.from([0xe0, 0x80, 0xaf]))).toBe(0); // an overlong three-byte "/"
    expect(firstInvalidUtf8Offset(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // U+110000
    expect(firstInvalidUtf8Offset(Buffer.from([0x61, 0xf0, 0x9f, 0x98]))).toBe(1); // an emoji cut short
  });
});

describe("strictUtf8Decoder", () => {
  it("decodes UTF-8 as connect's default decoder does, skipping a leading byte-order mark", () => {
    for (const text of ['{"content":"héllo 😀"}', '\ufeff{"a":1}', "", '{"bom":"\ufeff"}']) {
      const bytes = Buffer.from(text, "utf8");
      expect(strictUtf8Decoder.decode(bytes)).toBe(new TextDecoder().decode(bytes));
    }
  });

  it("refuses bytes that are not UTF-8 with invalid_argument, naming the offset, where the default would put U+FFFD", () => {
    const bytes = Buffer.from([...Buffer.from('{"content":"caf'), 0xe9, ...Buffer.from('"}')]); // Latin-1 "café"
    expect(new TextDecoder().decode(bytes)).toContain("\ufffd");
    let thrown: unknown;
    try {
      strictUtf8Decoder.decode(bytes);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConnectError);
    expect([(thrown as ConnectError).code, (thrown as ConnectError).rawMessage]).toEqual([
      Code.InvalidArgument,
      "the JSON request message is not valid UTF-8: its first bad byte is at offset 15",
    ]);
  });
});

describe("getMessageUtf8Error", () => {
  const base = "http://127.0.0.1/protogate.v1.ModelService/GetModel?encoding=json";
  it("names the first bad byte of the percent-decoded message, reading parameters as URLSearchParams does", () => {
    expect(getMessageUtf8Error(`${base}&message=%7B%22a%22%3A%22%FF%22%7D`)?.rawMessage).toBe(
      "the message query parameter is not valid UTF-8 once percent-decoded: its first bad byte is at offset 6",
    );
    // A percent-encoded name counts; so does only the first of two.
    expect(getMessageUtf8Error(`${base}&%6Dessage=%C3`)?.code).toBe(Code.InvalidArgument);
    expect(getMessageUtf8Error(`${base}&message=ok&message=%FF`)).toBeUndefined();
  });

  it("leaves alone well-formed text, a lone %, a base64 message and a URL without one", () => {
    for (const url of [`${base}&message=%C3%A9+x`, `${base}&message=100%25%`, `${base}&base64=1&message=_w`, base, "http://127.0.0.1/healthz"]) {
      expect(getMessageUtf8Error(url), url).toBeUndefined();
    }
  });
});

