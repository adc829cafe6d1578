/**
 * An incremental parser for HTTP/1.1 responses (RFC 9112), for the
 * gateway's own upstream client (http1-client.ts). Bytes go in as they
 * arrive from the socket; the head, the body's pieces (views of the
 * socket's buffers, not copies) and the end come out through a sink.
 *
 * It frames bodies by `Transfer-Encoding: chunked`, by `Content-Length`,
 * or by the connection's close, skips interim (1xx) responses, and
 * rejects what would let a response be read two ways: differing
 * `Content-Length`s, a malformed chunk size, folded or malformed header
 * lines, a head larger than `maxHeadBytes`. A rejected response throws an
 * Http1ParseError; the caller closes the connection.
 */

/** The head of a final (non-1xx) response. */
export interface Http1ResponseHead {
  readonly status: number;
  /** Lower-cased names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the connection may carry another request once this response has ended. */
  readonly keepAlive: boolean;
}

/** Where the parser delivers a response. */
export interface Http1ResponseSink {
  onHead(head: Http1ResponseHead): void;
  /** A piece of the body, out of its chunked framing: a view into the bytes the socket read, not a copy. */
  onBody(chunk: Buffer): void;
  /** The body is complete. Nothing is delivered after it. */
  onEnd(): void;
}

/** The bytes are not an HTTP/1.1 response this client can read unambiguously. */
export class Http1ParseError extends Error {
  override readonly name = "Http1ParseError";
}

/** The largest response head (status line and headers, or a chunked body's trailers) read by default. */
export const defaultMaxHeadBytes = 64 * 1024;

/** Chunk-size lines longer than this are refused: 16 hex digits plus generous room for extensions. */
const maxChunkSizeLineBytes = 4096;

const enum State {
  Head,
  FixedBody,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const statusLinePattern = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
/** An RFC 9110 token, what a header name must be, and one header line: `name:value`, no CR, LF or NUL in the value. */
const token = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const headerLine = `${token}:[^\\r\\n\\0]*`;
/** A header name the client may send. */
export const httpTokenPattern = new RegExp(`^${token}$`);
/** A response's header lines, all at once (so no folded lines either). */
const headerFieldsPattern = new RegExp(`^${headerLine}(?:\\r\\n${headerLine})*$`);
const headerLinePattern = new RegExp(`^${headerLine}$`);
const chunkSizePattern = /^([0-9a-fA-F]{1,13})[ \t]*(?:;.*)?$/;
const crlfCrlf = Buffer.from("\r\n\r\n");
const crlf = Buffer.from("\r\n");

/**
 * Parses one response; `execute` feeds it, `end` tells it the connection
 * closed. Create one per request.
 *
 * @example
 * const parser = new Http1ResponseParser(sink);
 * socket.on("data", (chunk) => parser.execute(chunk));
 * socket.on("end", () => parser.end());
 */
export class Http1ResponseParser {
  #state = State.Head;
  /** Bytes of a head, chunk-size line or trailer section not yet complete. */
  #pending: Buffer | undefined;
  /** Body bytes still expected: of a Content-Length body, or of the current chunk. */
  #remaining = 0;
  readonly #sink: Http1ResponseSink;
  readonly #maxHeadBytes: number;

  constructor(sink: Http1ResponseSink, maxHeadBytes = defaultMaxHeadBytes) {
    this.#sink = sink;
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Whether the response has ended. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Whether a response head has been read (so a failure now cuts a body short rather than leaving no answer). */
  get headRead(): boolean {
    return this.#state !== State.Head;
  }

  /**
   * Reads the next bytes from the connection. Returns how many bytes
   * followed the end of the response (the server sent more than one
   * answer: the connection must not be reused); 0 otherwise.
   */
  execute(chunk: Buffer): number {
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.#state) {
        case State.Head: {
          const end = this.#takeThrough(chunk, offset, crlfCrlf, this.#maxHeadBytes, "response head");
          if (end === undefined) return 0;
          offset = end.next;
          this.#readHead(end.text);
          break;
        }
        case State.FixedBody: {
          const take = Math.min(this.#remaining, chunk.length - offset);
          this.#remaining -= take;
          this.#sink.onBody(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
          offset += take;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case State.ChunkSize: {
          const end = this.#takeThrough(chunk, offset, crlf, maxChunkSizeLineBytes, "chunk size line");
          if (end === undefined) return 0;
          offset = end.next;
          const size = chunkSizePattern.exec(end.text);
          if (size === null) throw new Http1ParseError(`malformed chunk size line ${JSON.stringify(end.text.slice(0, 40))}`);
          this.#remaining = Number.parseInt(size[1] ?? "", 16);
          this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.#remaining, chunk.length - offset);
          this.#remaining -= take;
          this.#sink.onBody(chunk.subarray(offset, offset + take));
          offset += take;
          if (this.#remaining === 0) this.#state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd: {
          const end = this.#takeThrough(chunk, offset, crlf, 2, "end of a chunk");
          if (end === undefined) return 0;
          if (end.text !== "") throw new Http1ParseError("a chunk's data is longer than its size");
          offset = end.next;
          this.#state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // The last chunk's line is followed by trailer fields (ignored) and an empty line: at once, or after them.
          const end = this.#takeThrough(chunk, offset, crlfCrlf, this.#maxHeadBytes, "trailer section", crlf);
          if (end === undefined) return 0;
          offset = end.next;
          this.#finish();
          break;
        }
        case State.UntilClose:
          this.#sink.onBody(offset === 0 ? chunk : chunk.subarray(offset));
          return 0;
        case State.Done:
          return chunk.length - offset;
      }
    }
    return 0;
  }

  /**
   * The connection closed. Ends a body framed by the close; throws an
   * Http1ParseError when the response is incomplete.
   */
  end(): void {
    if (this.#state === State.Done) return;
    if (this.#state === State.UntilClose) {
      this.#finish();
      return;
    }
    throw new Http1ParseError(this.#state === State.Head ? "the connection closed before a response" : "the response ended before its end");
  }

  /**
   * Appends `chunk[offset..]` to the pending bytes until `delimiter`
   * (or, for a trailer section, `emptyPrefix` at its very start) and returns
   * the text before it and where the rest begins; undefined while it has
   * not arrived. Refuses sections longer than `limit`.
   */
  #takeThrough(chunk: Buffer, offset: number, delimiter: Buffer, limit: number, what: string, emptyPrefix?: Buffer): { text: string; next: number } | undefined {
    const previous = this.#pending?.length ?? 0;
    const bytes = previous === 0 ? chunk.subarray(offset) : Buffer.concat([this.#pending as Buffer, chunk.subarray(offset)]);
    // Search from just before the new bytes, in case the delimiter straddles two reads.
    const from = Math.max(0, previous - delimiter.length + 1);
    let index = bytes.indexOf(delimiter, from);
    let delimiterLength = delimiter.length;
    if (emptyPrefix !== undefined && bytes.length >= emptyPrefix.length && bytes.subarray(0, emptyPrefix.length).equals(emptyPrefix)) {
      index = 0;
      delimiterLength = emptyPrefix.length;
    }
    if (index === -1 || index > limit) {
      if (bytes.length > limit + delimiter.length) throw new Http1ParseError(`the ${what} is longer than ${limit} bytes`);
      this.#pending = previous === 0 ? Buffer.from(bytes) : bytes;
      return undefined;
    }
    this.#pending = undefined;
    return { text: bytes.toString("latin1", 0, index), next: offset + index + delimiterLength - previous };
  }

  #readHead(text: string): void {
    const statusEnd = text.indexOf("\r\n");
    const statusLine = statusLinePattern.exec(statusEnd === -1 ? text : text.slice(0, statusEnd));
    if (statusLine === null) throw new Http1ParseError(`malformed status line ${JSON.stringify(text.slice(0, Math.min(80, statusEnd === -1 ? 80 : statusEnd)))}`);
    const minorVersion = statusLine[1];
    const status = Number(statusLine[2]);
    const headers: Record<string, string> = {};
    if (statusEnd !== -1) {
      // One check of every header line at once, then plain slicing: a name, a colon, a value without CR, LF or NUL.
      const fields = text.slice(statusEnd + 2);
      if (!headerFieldsPattern.test(fields)) throw new Http1ParseError(`malformed header line ${JSON.stringify(firstMalformedLine(fields).slice(0, 80))}`);
      for (let start = 0; start < fields.length; ) {
        const lineEnd = fields.indexOf("\r\n", start);
        const end = lineEnd === -1 ? fields.length : lineEnd;
        const colon = fields.indexOf(":", start);
        const key = fields.slice(start, colon).toLowerCase();
        const value = fields.slice(colon + 1, end).trim();
        const earlier = headers[key];
        headers[key] = earlier === undefined ? value : `${earlier}, ${value}`;
        start = end + 2;
      }
    }
    if (status < 200) {
      // An interim answer (100 Continue, 103 Early Hints): the final one follows. 101 would switch protocols, never asked for.
      if (status === 101) throw new Http1ParseError("unexpected 101 Switching Protocols");
      return;
    }
    const connection = (headers["connection"] ?? "").toLowerCase();
    let keepAlive = minorVersion === "1" ? !/(?:^|,)\s*close\s*(?:,|$)/.test(connection) : /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection);
    const transferEncoding = headers["transfer-encoding"];
    const contentLength = headers["content-length"];
    if (status === 204 || status === 304) {
      this.#sink.onHead({ status, headers, keepAlive });
      this.#finish();
      return;
    }
    if (transferEncoding !== undefined) {
      const codings = transferEncoding.toLowerCase().split(",");
      const chunked = codings[codings.length - 1]?.trim() === "chunked";
      // A Content-Length beside Transfer-Encoding is ignored, and the connection not trusted again (RFC 9112 §6.3).
      if (contentLength !== undefined || !chunked) keepAlive = false;
      this.#state = chunked ? State.ChunkSize : State.UntilClose;
    } else if (contentLength !== undefined) {
      const values = contentLength.split(",").map((value) => value.trim());
      const first = values[0] ?? "";
      if (!/^\d{1,15}$/.test(first) || values.some((value) => value !== first)) {
        throw new Http1ParseError(`invalid Content-Length ${JSON.stringify(contentLength.slice(0, 40))}`);
      }
      this.#remaining = Number(first);
      this.#state = State.FixedBody;
    } else {
      keepAlive = false;
      this.#state = State.UntilClose;
    }
    this.#sink.onHead({ status, headers, keepAlive });
    if (this.#state === State.FixedBody && this.#remaining === 0) this.#finish();
  }

  #finish(): void {
    this.#state = State.Done;
    this.#pending = undefined;
    this.#sink.onEnd();
  }
}

/** The first header line that is not `name:value`, for the error message. */
function firstMalformedLine(fields: string): string {
  return fields.split("\r\n").find((line) => !headerLinePattern.test(line)) ?? fields;
}
