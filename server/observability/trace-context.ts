/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for the
 * `traceparent` header: parse and validate what a client sent, make a
 * child span for the upstream call, format the header. Pure functions;
 * randomness is passed in.
 */

/** A trace position: the trace, the current span in it, and the trace flags. */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex digits, not all zero: the span that made the call (the header's parent-id). */
  readonly spanId: string;
  /** The 8 trace-flags bits; bit 0 is "sampled". */
  readonly flags: number;
}

/** A source of random bytes, e.g. `node:crypto`'s `randomBytes` or a seeded one in tests. */
export type RandomBytes = (size: number) => Uint8Array;

/** The "sampled" trace flag. */
export const sampledFlag = 0x01;

/** Flags a version-00 header may carry forward: sampled, and Level 2's "random trace-id". */
const forwardedFlags = 0x03;

const hex2 = /^[0-9a-f]{2}$/;
const traceIdPattern = /^[0-9a-f]{32}$/;
const spanIdPattern = /^[0-9a-f]{16}$/;
const zeroTraceId = "0".repeat(32);
const zeroSpanId = "0".repeat(16);

/**
 * Parses a `traceparent` header. Returns undefined for an absent or
 * invalid value, in which case the spec says to start a new trace (and to
 * ignore `tracestate`). Rules: lowercase hex only; version `ff` is
 * invalid; version `00` must be exactly 55 characters; a higher version is
 * parsed as 00 when it has at least those fields and, if longer, a `-`
 * after them; an all-zero trace-id or parent-id is invalid. Surrounding
 * whitespace (HTTP optional whitespace) is ignored.
 *
 * @example
 * parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
 * // { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1 }
 */
export function parseTraceparent(header: string | null | undefined): TraceContext | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value.length < 55) return undefined;
  const version = value.slice(0, 2);
  if (!hex2.test(version) || version === "ff") return undefined;
  if (version === "00" && value.length !== 55) return undefined;
  if (value.length > 55 && value[55] !== "-") return undefined;
  if (value[2] !== "-" || value[35] !== "-" || value[52] !== "-") return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flagsText = value.slice(53, 55);
  if (!traceIdPattern.test(traceId) || traceId === zeroTraceId) return undefined;
  if (!spanIdPattern.test(spanId) || spanId === zeroSpanId) return undefined;
  if (!hex2.test(flagsText)) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flagsText, 16) };
}

/**
 * Formats a version-00 `traceparent` header.
 *
 * @example
 * formatTraceparent({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1 })
 * // "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
 */
export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.flags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * Makes the context of a new span under `parent`: same trace, a fresh
 * span id, the parent's sampled (and random-trace-id) flags. Without a
 * parent, starts a new trace, not sampled unless `sampled` is set.
 *
 * @example
 * const incoming = parseTraceparent(request.headers.get("traceparent"));
 * const upstream = childSpan(incoming, randomBytes);
 * upstreamHeaders.set("traceparent", formatTraceparent(upstream));
 */
export function childSpan(
  parent: TraceContext | undefined,
  randomBytes: RandomBytes,
  options: { readonly sampled?: boolean } = {},
): TraceContext {
  const spanId = randomHexId(randomBytes, 8);
  if (parent !== undefined) return { traceId: parent.traceId, spanId, flags: parent.flags & forwardedFlags };
  return { traceId: randomHexId(randomBytes, 16), spanId, flags: options.sampled === true ? sampledFlag : 0 };
}

/** Whether the sampled flag is set. */
export function isSampled(context: TraceContext): boolean {
  return (context.flags & sampledFlag) !== 0;
}

/**
 * Everything the upstream call needs in one step: the incoming
 * `traceparent` parsed (a new trace if absent or invalid), a child span for
 * the upstream call, and the headers to send — `traceparent`, plus
 * `tracestate` passed on unchanged only when the incoming `traceparent`
 * was valid, as the spec requires.
 */
export function upstreamTraceHeaders(
  incoming: { readonly traceparent: string | null | undefined; readonly tracestate: string | null | undefined },
  randomBytes: RandomBytes,
): { readonly parent: TraceContext | undefined; readonly upstream: TraceContext; readonly headers: Readonly<Record<string, string>> } {
  const parent = parseTraceparent(incoming.traceparent);
  const upstream = childSpan(parent, randomBytes);
  const headers: Record<string, string> = { traceparent: formatTraceparent(upstream) };
  const tracestate = incoming.tracestate?.trim();
  if (parent !== undefined && tracestate !== undefined && tracestate !== "") headers.tracestate = tracestate;
  return { parent, upstream, headers };
}

/**
 * A RandomBytes that draws from `source` `poolSize` bytes at a time and
 * hands out slices of them: one call into the system's generator then
 * serves a few hundred span ids, instead of one call per id, several times
 * per request. The slices are views of a pool that is never rewritten.
 *
 * @example
 * const randomBytes = pooledRandomBytes((size) => crypto.randomBytes(size));
 * const span = childSpan(parent, randomBytes);
 */
export function pooledRandomBytes(source: RandomBytes, poolSize = 4096): RandomBytes {
  let pool: Uint8Array = new Uint8Array(0);
  let offset = 0;
  return (size) => {
    if (size > poolSize) return source(size);
    if (offset + size > pool.length) {
      pool = source(poolSize);
      offset = 0;
    }
    offset += size;
    return pool.subarray(offset - size, offset);
  };
}

/** A random lowercase-hex id of `bytes` bytes, never all zero (the spec forbids it). */
function randomHexId(randomBytes: RandomBytes, bytes: number): string {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const id = toHex(randomBytes(bytes), bytes);
    if (!/^0+$/.test(id)) return id;
  }
  // A source that keeps returning zeros is broken; still produce a valid id.
  return `${"0".repeat(bytes * 2 - 1)}1`;
}

/**
 * The first `bytes` bytes as lowercase hex, in one flat string made by
 * Buffer's native encoder (appending two characters at a time made a
 * V8 rope of fifteen or thirty pieces, for every id).
 */
function toHex(data: Uint8Array, bytes: number): string {
  return Buffer.from(data.buffer, data.byteOffset, Math.min(bytes, data.byteLength)).toString("hex").padEnd(bytes * 2, "0");
}
