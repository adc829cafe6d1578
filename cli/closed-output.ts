/**
 * Keeps the process running when whoever reads its stdout or stderr has
 * gone away (`protogate serve 2>&1 | head`, a log shipper that died):
 * what is written to them after that is dropped.
 *
 * Why: Node reports a write to a closed pipe as an `error` event on the
 * stream, and with no listener that is an uncaught exception. For
 * `protogate serve` that was the gateway's next log line — a backend
 * turning unreachable, or the "draining" line of a graceful shutdown —
 * ending the process with exit code 1 and its requests in flight. The
 * first failed write is `EPIPE`; later ones find the stream destroyed.
 * Any other error is thrown as before.
 *
 * @example
 * tolerateClosedOutput([process.stdout, process.stderr]);
 */
export function tolerateClosedOutput(streams: readonly NodeJS.WritableStream[]): void {
  for (const stream of streams) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
    });
  }
}
