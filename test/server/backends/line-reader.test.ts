import { describe, expect, it } from "vitest";
import { readLines } from "../../../server/backends/line-reader.js";
import { UpstreamError } from "../../../server/backends/upstream-failure.js";

/** A body that yields these chunks and notes whether the reader closed it early. */
function body(chunks: ReadonlyArray<string | Uint8Array>) {
  const state = { closedEarly: false, chunksRead: 0 };
  async function* generate(): AsyncGenerator<Uint8Array> {
    let finished = false;
    try {
      for (const chunk of chunks) {
        state.chunksRead++;
        yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      }
      finished = true;
    } finally {
      if (!finished) state.closedEarly = true;
    }
  }
  return { stream: generate(), state };
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

const signal = new AbortController().signal;

describe("readLines", () => {
  it("splits on LF and CRLF across chunk boundaries, decoding UTF-8 split mid-character, and keeps a last line without newline", async () => {
    const euro = Buffer.from("€"); // three bytes
    const { stream } = body([
      "data: a\r",
      "\ndata: b\n\nda",
      Buffer.concat([Buffer.from("ta: "), euro.subarray(0, 1)]),
      Buffer.concat([euro.subarray(1), Buffer.from("\nlast")]),
    ]);
    expect(await collect(readLines(stream, signal, 1024))).toEqual(["data: a", "data: b", "", "data: €", "last"]);
  });

  it("fails a line longer than the limit as a protocol failure and closes the body, however it arrives", async () => {
    const cases: Array<[string, Array<string>]> = [
      ["many chunks and no newline", Array.from({ length: 1000 }, () => "x".repeat(100))],
      ["one chunk with its newline", ["ok\n", `${"y".repeat(5000)}\n`, "never read\n"]],
      ["a last line without newline", ["ok\n", "z".repeat(5000)]],
    ];
    for (const [name, chunks] of cases) {
      const { stream, state } = body(chunks);
      const seen: string[] = [];
      const error = await (async () => {
        for await (const line of readLines(stream, signal, 4096)) seen.push(line);
      })().catch((caught: unknown) => caught);
      expect(error, name).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).failure, name).toEqual({
        kind: "protocol",
        detail: "a line of the stream is longer than 4096 characters (limits.maxBackendResponseBytes)",
      });
      // Lines before the long one came through; reading stopped at the limit, not at the end of the body.
      expect(seen, name).toEqual(name === "many chunks and no newline" ? [] : ["ok"]);
      if (name === "many chunks and no newline") expect(state.chunksRead).toBe(41);
      if (name === "one chunk with its newline") expect(state.closedEarly).toBe(true);
    }
  });

  it("accepts a line exactly at the limit", async () => {
    const { stream } = body(["a".repeat(50), `${"a".repeat(50)}\r\n`, "b".repeat(100)]);
    expect((await collect(readLines(stream, signal, 100))).map((line) => line.length)).toEqual([100, 100]);
  });
});
