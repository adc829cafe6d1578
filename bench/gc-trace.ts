/**
 * Reads V8's `--trace-gc-nvp` lines: one line per garbage collection, as
 * `name=value` pairs, prefixed with the process id and the isolate (one
 * per thread that runs JavaScript: the main thread, each worker).
 *
 *   [4360:0x3f6aa0a0]    12854 ms: pause=3.9 mutator=250.1 gc=s … promoted=1257888 …
 *
 * `gc=s` is a scavenge (the young generation), `gc=mc` a full
 * mark-compact, `gc=mmc` a minor mark-compact (`--minor-mc`, not the
 * default). `promoted` is what a scavenge moved to the old generation:
 * objects that survived two scavenges, which only a full collection frees.
 */

/** One collection of one isolate. */
export interface GcEvent {
  /** The isolate's address: tells the main thread's collections from a worker's. */
  readonly isolate: string;
  readonly kind: "scavenge" | "minor-mark-compact" | "mark-compact" | "other";
  /** Time the main thread was stopped, in milliseconds. */
  readonly pauseMs: number;
  /** Bytes moved to the old generation (scavenges; 0 when the line has no such field). */
  readonly promotedBytes: number;
}

const linePattern = /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: (.*)$/;

/**
 * Parses one `--trace-gc-nvp` line; undefined for any other line (the
 * program's own output is mixed in).
 *
 * @example
 * parseGcLine("[7:0x1a] 10 ms: pause=2.5 mutator=1.0 gc=s promoted=4096"); // { isolate: "0x1a", kind: "scavenge", pauseMs: 2.5, promotedBytes: 4096 }
 */
export function parseGcLine(line: string): GcEvent | undefined {
  const match = linePattern.exec(line);
  if (match === null) return undefined;
  const fields = new Map<string, string>();
  for (const pair of (match[2] ?? "").split(" ")) {
    const equals = pair.indexOf("=");
    if (equals > 0) fields.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
  const gc = fields.get("gc");
  if (gc === undefined) return undefined;
  const number = (name: string) => {
    const value = Number(fields.get(name));
    return Number.isFinite(value) ? value : 0;
  };
  return {
    isolate: match[1] ?? "",
    kind: gc === "s" ? "scavenge" : gc === "mmc" ? "minor-mark-compact" : gc === "mc" || gc === "ms" ? "mark-compact" : "other",
    pauseMs: number("pause"),
    promotedBytes: number("promoted"),
  };
}

/** The collections of one isolate over a window. */
export interface GcSummary {
  readonly scavenges: number;
  readonly scavengePauseMs: number;
  readonly promotedBytes: number;
  /** Full and minor mark-compacts. */
  readonly markCompacts: number;
  readonly markCompactPauseMs: number;
}

/**
 * Sums the collections of the isolate that collected most often: under
 * load that is the main thread, whatever workers the process also runs.
 */
export function summarizeBusiestIsolate(events: readonly GcEvent[]): GcSummary {
  const counts = new Map<string, number>();
  for (const event of events) counts.set(event.isolate, (counts.get(event.isolate) ?? 0) + 1);
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const summary = { scavenges: 0, scavengePauseMs: 0, promotedBytes: 0, markCompacts: 0, markCompactPauseMs: 0 };
  for (const event of events) {
    if (event.isolate !== busiest) continue;
    if (event.kind === "scavenge") {
      summary.scavenges++;
      summary.scavengePauseMs += event.pauseMs;
      summary.promotedBytes += event.promotedBytes;
    } else if (event.kind === "mark-compact" || event.kind === "minor-mark-compact") {
      summary.markCompacts++;
      summary.markCompactPauseMs += event.pauseMs;
    }
  }
  return summary;
}
