import { UpstreamError, toUpstreamError } from "./upstream-failure.js";

/**
 * Yields the lines of a streamed body (without their `\n` or `\r\n`),
 * decoding UTF-8 across chunk boundaries. A final line without a newline is
 * yielded too. Read failures become UpstreamErrors (aborted when our signal
 * fired, truncated otherwise); a line longer than `maxLineLength`
 * characters is a protocol failure, so a backend that never sends a
 * newline cannot grow the gateway's memory without bound. Leaving the loop
 * early closes the body, which closes the upstream connection and stops
 * generation there.
 */
export async function* readLines(body: AsyncIterable<Uint8Array>, signal: AbortSignal, maxLineLength: number): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  // The start of a line still waiting for its newline, kept in pieces: appending to one string and searching it
  // again for every chunk would copy a long line over and over.
  let pending: string[] = [];
  let pendingLength = 0;
  const takeLine = (end: string): string => {
    const line = pending.length === 0 ? end : pending.join("") + end;
    pending = [];
    pendingLength = 0;
    const withoutCr = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (withoutCr.length > maxLineLength) throw lineTooLong(maxLineLength);
    return withoutCr;
  };
  const chunks = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      let chunk: IteratorResult<Uint8Array>;
      try {
        chunk = await chunks.next();
      } catch (error) {
        throw toUpstreamError(error, signal, "truncated");
      }
      if (chunk.done === true) break;
      const text = decoder.decode(chunk.value, { stream: true });
      let lineStart = 0;
      for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", lineStart)) {
        yield takeLine(text.slice(lineStart, newline));
        lineStart = newline + 1;
      }
      if (lineStart < text.length) {
        pending.push(lineStart === 0 ? text : text.slice(lineStart));
        pendingLength += text.length - lineStart;
        // One more for a CR that may end the line.
        if (pendingLength > maxLineLength + 1) throw lineTooLong(maxLineLength);
      }
    }
    const rest = decoder.decode();
    if (pendingLength > 0 || rest !== "") yield takeLine(rest);
  } finally {
    // Closes the upstream body when the consumer leaves early.
    await chunks.return?.();
  }
}

function lineTooLong(maxLineLength: number): UpstreamError {
  return new UpstreamError({ kind: "protocol", detail: `a line of the stream is longer than ${maxLineLength} characters (limits.maxBackendResponseBytes)` });
}
