import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The text decoder for Connect's JSON codec (its `jsonOptions.textDecoder`):
 * a JSON request message that is not UTF-8 is `invalid_argument`, naming the byte
 * offset of the first bad sequence.
 *
 * Why: connect's default decoder replaces invalid bytes with U+FFFD, so a
 * client that sends Latin-1 or a cut multi-byte character would have its
 * text silently altered before a model sees it. JSON text must be UTF-8
 * (RFC 8259, section 8.1), and the binary codec already refuses strings
 * that are not (protobuf-es decodes proto3 strings strictly). A leading
 * byte-order mark is still skipped, as by the default decoder.
 *
 * @example
 * connectNodeAdapter({ routes, jsonOptions: { ignoreUnknownFields: false, textDecoder: strictUtf8Decoder } });
 */
export const strictUtf8Decoder = {
  decode(input?: Uint8Array): string {
    try {
      return fatalDecoder.decode(input);
    } catch {
      const offset = input === undefined ? 0 : firstInvalidUtf8Offset(input);
      throw new ConnectError(`the JSON request message is not valid UTF-8: its first bad byte is at offset ${offset}`, Code.InvalidArgument);
    }
  },
};

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The offset of the first byte that does not start or continue a
 * well-formed UTF-8 sequence (Unicode, table 3-7), or -1 when every byte
 * does. A sequence cut off by the end of the input counts as bad at its
 * first byte. Only called once decoding has failed, to say where.
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] ?? 0;
    if (lead < 0x80) {
      index++;
      continue;
    }
    const length = sequenceLength(lead);
    if (length === 0) return index;
    // Past the end a byte reads as 0, which no sequence takes: a cut sequence is bad at its lead.
    // The second byte's range depends on the lead (no overlongs, no surrogates, nothing above U+10FFFF).
    const second = bytes[index + 1] ?? 0;
    const [low, high] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    if (second < low || second > high) return index;
    for (let next = index + 2; next < index + length; next++) {
      const continuation = bytes[next] ?? 0;
      if (continuation < 0x80 || continuation > 0xbf) return index;
    }
    index += length;
  }
  return -1;
}

/** How many bytes a sequence with this lead byte has; 0 for a byte that cannot lead one. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * The error for a Connect GET whose `message` query parameter, once
 * percent-decoded, is not UTF-8; undefined for any other URL (no
 * `message`, or `base64=1`).
 *
 * Why: connect reads the parameter with URLSearchParams, which replaces
 * such bytes with U+FFFD before strictUtf8Decoder could see them. A binary
 * message comes with `base64=1`, as the Connect protocol has clients send
 * it, and is not affected. handleRefusedRpcs answers with this error.
 *
 * @example
 * getMessageUtf8Error("http://127.0.0.1/p.v1.S/Get?encoding=json&message=%FF"); // invalid_argument, offset 0
 */
export function getMessageUtf8Error(url: string): ConnectError | undefined {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return undefined;
  // As URLSearchParams reads them: the first parameter of each name counts, names may be percent-encoded too.
  // Values stay encoded until needed: only `message` and `base64` are read.
  const encodedValues = new Map<string, string>();
  for (const parameter of url.slice(queryStart + 1).split("&")) {
    const equals = parameter.indexOf("=");
    const name = Buffer.from(percentDecode(equals === -1 ? parameter : parameter.slice(0, equals))).toString("utf8");
    if (!encodedValues.has(name)) encodedValues.set(name, equals === -1 ? "" : parameter.slice(equals + 1));
  }
  const message = encodedValues.get("message");
  const base64 = encodedValues.get("base64");
  if (message === undefined || (base64 !== undefined && Buffer.from(percentDecode(base64)).toString("utf8") === "1")) return undefined;
  const offset = firstInvalidUtf8Offset(percentDecode(message));
  if (offset === -1) return undefined;
  return new ConnectError(`the message query parameter is not valid UTF-8 once percent-decoded: its first bad byte is at offset ${offset}`, Code.InvalidArgument);
}

/** The bytes a percent-encoded query value stands for ("+" is a space; a "%" without two hex digits is itself). */
function percentDecode(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    const hex = char === 0x25 ? text.slice(index + 1, index + 3) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else {
      // A serialised URL is ASCII: any other character is the byte it stands for.
      bytes.push(char === 0x2b ? 0x20 : char & 0xff);
    }
  }
  return Uint8Array.from(bytes);
}
