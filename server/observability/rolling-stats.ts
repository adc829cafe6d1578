import type { Code } from "@connectrpc/connect";
import { codeLabel, noneLabel, unknownLabel } from "./labels.js";
import { type SessionTracker, createSessionTracker } from "./session-tracker.js";

/** The windows of a live summary. */
export type WindowName = "1m" | "5m" | "15m";

/** Window lengths in milliseconds. */
export const windowLengthsMs: Readonly<Record<WindowName, number>> = { "1m": 60_000, "5m": 300_000, "15m": 900_000 };

/** The window names, shortest first. */
export const windowNames: readonly WindowName[] = ["1m", "5m", "15m"];

/** One finished request, as `record` takes it. */
export interface RollingStatsSample {
  readonly model: string | undefined;
  readonly backend: string | undefined;
  /** "ok", or the Connect code of the failure. */
  readonly code: Code | "ok";
  /** Wall time of the request in milliseconds. */
  readonly latencyMs: number;
  /** Time to first token in milliseconds, for generations. */
  readonly ttftMs?: number | undefined;
  /** The client's session id, when it sent one; feeds `sessions`. */
  readonly sessionId?: string | undefined;
}

/**
 * Statistics of one window. Values that need at least one sample are null
 * without one (JSON-friendly), rather than 0 or NaN.
 */
export interface WindowSummary {
  readonly requests: number;
  readonly ratePerSecond: number;
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
  readonly ttftP50Ms: number | null;
  readonly ttftP95Ms: number | null;
  /** Failed ÷ all requests. */
  readonly errorRate: number | null;
  /** Failed requests by Connect code name ("unavailable", …). */
  readonly errorsByCode: Record<string, number>;
  /** Error-free sessions ÷ sessions active in the window (from the session tracker). */
  readonly errorFreeSessionRatio: number | null;
}

/** The three windows of one model (or of all models). */
export interface ModelSummary {
  readonly model: string;
  /** Backends that served this model within the longest window, sorted. */
  readonly backends: readonly string[];
  readonly windows: Readonly<Record<WindowName, WindowSummary>>;
}

/** A live summary of the last 1, 5 and 15 minutes. */
export interface RollingSummary {
  /** Per model, sorted by name; models without requests in 15 minutes are left out. */
  readonly models: readonly ModelSummary[];
  /** All models together, under the model name "*". */
  readonly overall: ModelSummary;
}

/** Options of createRollingStats. */
export interface RollingStatsOptions {
  /** A monotonic clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Width of a time bucket in milliseconds (default 10 000); windows are whole buckets. */
  readonly bucketMs?: number;
  /** Models kept under their own name; others are summarised as "unknown". Absent: any, up to `maxModels`. */
  readonly knownModels?: () => ReadonlySet<string>;
  /** Most distinct model entries (default 256); further names count as "unknown". */
  readonly maxModels?: number;
  /**
   * The session tracker that `record` feeds (when a sample has a
   * `sessionId`) and the session ratios come from. Default: a tracker of
   * its own with default options, exposed as `sessions`. Do not also call
   * `record` on a tracker passed here: requests would count twice.
   */
  readonly sessions?: SessionTracker;
  /** Relative accuracy of the percentiles (default 0.02, i.e. ±2 %). */
  readonly relativeAccuracy?: number;
}

/**
 * A live, windowed summary per model for the last 1, 5 and 15 minutes,
 * e.g. for a status page or `protogate top`. Requests go into fixed time
 * buckets (10 s by default); each bucket keeps counts and two small
 * log-scale sketches (latency and TTFT), so memory is bounded at any
 * request rate: at most ~600 bins per sketch, 90 buckets per model.
 */
export interface RollingStats {
  /** Adds one finished request. */
  record(sample: RollingStatsSample): void;
  /** The summary as of `now` (default: the clock). */
  summary(now?: number): RollingSummary;
  /** The session tracker behind the session ratios. */
  readonly sessions: SessionTracker;
}

/**
 * A log-scale histogram (the DDSketch mapping): a value v > minValue goes
 * to bin ceil(log_γ v) with γ = (1+α)/(1−α), and a bin is read back as
 * 2γ^i/(γ+1), which is within relative error α of every value in it.
 */
interface Sketch {
  readonly bins: Map<number, number>;
  zeros: number;
  count: number;
}

/** Values at or below this (ms) count as zero; values above `maxValueMs` are clamped. */
const minValueMs = 0.001;
const maxValueMs = 1e7;

interface Bucket {
  index: number;
  requests: number;
  errors: number;
  readonly errorsByCode: Map<string, number>;
  readonly latency: Sketch;
  readonly ttft: Sketch;
  readonly backends: Set<string>;
}

/**
 * Creates rolling statistics.
 *
 * Windows are made of whole buckets: "1m" is the current (partial) bucket
 * plus the 5 before it (with 10 s buckets), so it spans 50–60 s, and the
 * rate divides by the span actually covered (and not by more than the
 * time since creation, so a fresh gateway does not under-report).
 *
 * @example
 * const stats = createRollingStats({ knownModels: () => catalogModels });
 * stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: 812, ttftMs: 95, sessionId });
 * const { models } = stats.summary();
 */
export function createRollingStats(options: RollingStatsOptions = {}): RollingStats {
  const now = options.now ?? (() => performance.now());
  const bucketMs = options.bucketMs ?? 10_000;
  const maxModels = options.maxModels ?? 256;
  const alpha = options.relativeAccuracy ?? 0.02;
  const gamma = (1 + alpha) / (1 - alpha);
  const logGamma = Math.log(gamma);
  const sessions = options.sessions ?? createSessionTracker({ now });
  const slotCount = Math.ceil(windowLengthsMs["15m"] / bucketMs);
  const createdAt = now();
  // Per model, one slot per bucket of the longest window; a slot is filled at its first request.
  const rings = new Map<string, (Bucket | undefined)[]>();

  const newSketch = (): Sketch => ({ bins: new Map(), zeros: 0, count: 0 });

  function addToSketch(sketch: Sketch, valueMs: number): void {
    if (!Number.isFinite(valueMs) || valueMs < 0) return;
    sketch.count += 1;
    if (valueMs <= minValueMs) {
      sketch.zeros += 1;
      return;
    }
    const bin = Math.ceil(Math.log(Math.min(valueMs, maxValueMs)) / logGamma);
    sketch.bins.set(bin, (sketch.bins.get(bin) ?? 0) + 1);
  }

  function mergeInto(target: Sketch, source: Sketch): void {
    target.count += source.count;
    target.zeros += source.zeros;
    for (const [bin, count] of source.bins) target.bins.set(bin, (target.bins.get(bin) ?? 0) + count);
  }

  /** The nearest-rank quantile: the ⌈q·n⌉-th smallest value, within relative error α. */
  function quantile(sketch: Sketch, q: number): number | null {
    if (sketch.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * sketch.count));
    let seen = sketch.zeros;
    if (seen >= rank) return 0;
    for (const bin of [...sketch.bins.keys()].sort((a, b) => a - b)) {
      seen += sketch.bins.get(bin) ?? 0;
      if (seen >= rank) return (2 * gamma ** bin) / (gamma + 1);
    }
    return maxValueMs;
  }

  function modelKey(model: string | undefined): string {
    const name = model === undefined || model === "" ? noneLabel : model;
    if (options.knownModels !== undefined && name !== noneLabel && !options.knownModels().has(name)) return unknownLabel;
    if (!rings.has(name) && rings.size >= maxModels) return unknownLabel;
    return name;
  }

  function bucketFor(model: string, index: number): Bucket {
    let ring = rings.get(model);
    if (ring === undefined) {
      ring = new Array<Bucket | undefined>(slotCount).fill(undefined);
      rings.set(model, ring);
    }
    const slot = ((index % slotCount) + slotCount) % slotCount;
    let bucket = ring[slot];
    if (bucket === undefined || bucket.index !== index) {
      bucket = emptyBucket(index);
      ring[slot] = bucket;
    }
    return bucket;
  }

  function emptyBucket(index: number): Bucket {
    return {
      index,
      requests: 0,
      errors: 0,
      errorsByCode: new Map(),
      latency: newSketch(),
      ttft: newSketch(),
      backends: new Set(),
    };
  }

  function summarize(
    model: string,
    buckets: readonly Bucket[],
    at: number,
    sessionRatios: readonly (number | undefined)[] | undefined,
  ): ModelSummary {
    const newest = Math.floor(at / bucketMs);
    const backends = new Set<string>();
    const windows = {} as Record<WindowName, WindowSummary>;
    windowNames.forEach((name, windowIndex) => {
      const length = Math.max(1, Math.round(windowLengthsMs[name] / bucketMs));
      const oldest = newest - length + 1;
      let requests = 0;
      let errors = 0;
      const errorsByCode: Record<string, number> = {};
      const latency = newSketch();
      const ttft = newSketch();
      for (const bucket of buckets) {
        if (bucket.index < oldest || bucket.index > newest) continue;
        requests += bucket.requests;
        errors += bucket.errors;
        for (const [code, count] of bucket.errorsByCode) errorsByCode[code] = (errorsByCode[code] ?? 0) + count;
        mergeInto(latency, bucket.latency);
        mergeInto(ttft, bucket.ttft);
        if (name === "15m") for (const backend of bucket.backends) backends.add(backend);
      }
      const coveredMs = (length - 1) * bucketMs + (at - newest * bucketMs);
      const spanMs = Math.max(1000, Math.min(coveredMs, at - createdAt));
      const sessionRatio = sessionRatios?.[windowIndex];
      windows[name] = {
        requests,
        ratePerSecond: requests / (spanMs / 1000),
        latencyP50Ms: quantile(latency, 0.5),
        latencyP95Ms: quantile(latency, 0.95),
        ttftP50Ms: quantile(ttft, 0.5),
        ttftP95Ms: quantile(ttft, 0.95),
        errorRate: requests === 0 ? null : errors / requests,
        errorsByCode,
        errorFreeSessionRatio: sessionRatio ?? null,
      };
    });
    return { model, backends: [...backends].sort(), windows };
  }

  return {
    sessions,

    record(sample) {
      const at = now();
      const model = modelKey(sample.model);
      const bucket = bucketFor(model, Math.floor(at / bucketMs));
      bucket.requests += 1;
      if (sample.code !== "ok") {
        bucket.errors += 1;
        const code = codeLabel(sample.code);
        bucket.errorsByCode.set(code, (bucket.errorsByCode.get(code) ?? 0) + 1);
      }
      addToSketch(bucket.latency, sample.latencyMs);
      if (sample.ttftMs !== undefined) addToSketch(bucket.ttft, sample.ttftMs);
      if (sample.backend !== undefined && sample.backend !== "" && bucket.backends.size < 64) bucket.backends.add(sample.backend);
      if (sample.sessionId !== undefined && sample.sessionId !== "") {
        sessions.record({ sessionId: sample.sessionId, model, ok: sample.code === "ok", code: sample.code });
      }
    },

    summary(nowOverride) {
      const at = nowOverride ?? now();
      const newest = Math.floor(at / bucketMs);
      const ratios = sessions.ratios(windowNames.map((name) => windowLengthsMs[name]), at);
      const models: ModelSummary[] = [];
      const all: Bucket[] = [];
      for (const [model, ring] of [...rings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const live = ring.filter(
          (bucket): bucket is Bucket => bucket !== undefined && bucket.index > newest - slotCount && bucket.index <= newest,
        );
        if (!live.some((bucket) => bucket.requests > 0)) {
          rings.delete(model); // nothing left in the longest window: free the entry
          continue;
        }
        all.push(...live);
        models.push(summarize(model, live, at, ratios.byModel.get(model)));
      }
      return { models, overall: summarize("*", all, at, ratios.overall) };
    },
  };

}
