import { toUpstreamError } from "./upstream-failure.js";

/**
 * Yields the lines of a streamed body (without their `\n` or `\r\n`),
 * decoding UTF-8 across chunk boundaries. A final line without a newline is
 * yielded too. Read failures become UpstreamErrors (aborted when our signal
 * fired, truncated otherwise). Leaving the loop early closes the body, which
 * closes the upstream connection and stops generation there.
 */
export async function* readLines(body: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  let buffered = "";
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
      buffered += decoder.decode(chunk.value, { stream: true });
      let newline = buffered.indexOf("\n");
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        yield line.endsWith("\r") ? line.slice(0, -1) : line;
        newline = buffered.indexOf("\n");
      }
    }
    buffered += decoder.decode();
    if (buffered !== "") yield buffered;
  } finally {
    // Closes the upstream body when the consumer leaves early.
    await chunks.return?.();
  }
}
