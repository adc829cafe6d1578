/**
 * The headers and trailers of a unary Connect answer as one Node header
 * object: exactly what connect's `trailerMux` followed by a copy into a
 * plain object gives (trailers as `trailer-` headers; values of one name
 * joined with ", "; every value stripped of leading and trailing HTTP
 * whitespace, as `new Headers(…)` and `append` strip it), without building
 * the intermediate `Headers`, which costs an undici object and a validated
 * append per header on every call of the unary fast path.
 * test/server/http/unary-response-headers.test.ts holds it to `trailerMux`.
 *
 * @example
 * const nodeHeaders = muxedNodeHeaders(context.responseHeader, context.responseTrailer);
 * response.writeHead(200, nodeHeaders);
 */
export function muxedNodeHeaders(header: Headers, trailer: Headers): Record<string, string> {
  const muxed: Record<string, string> = {};
  header.forEach((value, key) => {
    muxed[key] = withoutHttpWhitespace(value);
  });
  trailer.forEach((value, key) => {
    const name = `trailer-${key}`;
    const before = muxed[name];
    const added = withoutHttpWhitespace(value);
    muxed[name] = before === undefined ? added : `${before}, ${added}`;
  });
  return muxed;
}

/** Tab, line feed, carriage return and space: the whitespace the Fetch standard strips from header values. */
function isHttpWhitespace(code: number | undefined): boolean {
  return code === 0x09 || code === 0x0a || code === 0x0d || code === 0x20;
}

/** A header value as `Headers` stores it: without leading or trailing HTTP whitespace (most values have none). */
function withoutHttpWhitespace(value: string): string {
  if (!isHttpWhitespace(value.charCodeAt(0)) && !isHttpWhitespace(value.charCodeAt(value.length - 1))) return value;
  let start = 0;
  let end = value.length;
  while (start < end && isHttpWhitespace(value.charCodeAt(start))) start++;
  while (end > start && isHttpWhitespace(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}
