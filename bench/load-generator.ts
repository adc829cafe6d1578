/**
 * A closed-loop HTTP/1.1 load generator: `concurrency` workers each send a
 * request, wait for the whole response, record its latency and send the
 * next, over keep-alive connections (one per worker).
 *
 * It uses `node:http` with a keep-alive Agent rather than fetch (undici):
 * fetch builds WHATWG Request/Response/Headers objects and streams for
 * every call, which costs the client more CPU per request. Every target is
 * measured with this same client, so its cost cancels out of "added
 * latency", and less client CPU leaves more of the 2 cores to the servers.
 */
import { Agent, type RequestOptions, request as httpRequest } from "node:http";

/** What to send to one endpoint and how to recognise a good answer. */
export interface LoadTarget {
  /** Full URL, loopback only (e.g. `http://127.0.0.1:7070/v1/chat/completions`). */
  readonly url: string;
  /** Extra request headers; `content-type` and `content-length` are set for you. */
  readonly headers: Readonly<Record<string, string>>;
  /** The request body (sent with POST). */
  readonly body: Buffer;
  /** A good response is HTTP 200 and its body contains this text. */
  readonly expectInBody: string;
}

/** How long to load one target, and with how many concurrent requests. */
export interface LoadOptions {
  readonly concurrency: number;
  /** The measured window; no request starts after it ends. */
  readonly durationMs: number;
  /** Upper bound on measured requests, so a run stays bounded on a fast machine. */
  readonly maxRequests: number;
  /** Unmeasured load first, to open connections and settle the JIT. */
  readonly settleMs: number;
  /** Called right before and right after the measured window (e.g. to read servers' CPU time). */
  readonly onWindow?: (edge: "start" | "end") => void;
}

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** What one measured window produced. */
export interface LoadResult {
  /** Good responses in the measured window. */
  readonly requests: number;
  /** Failed or wrong responses, measured window and settle phase together. */
  readonly errors: number;
  /** The first failure, for investigation (status and start of the body, or the socket error). */
  readonly firstError: string | undefined;
  /** From the first request sent to the last response received. */
  readonly durationMs: number;
  /** Per-request latency of every good response, in the order they completed. */
  readonly latenciesMs: Float64Array;
  /** CPU the load generator used during the measured window, in microseconds. */
  readonly clientCpuMicros: number;
  /** Every request sent, settle phase included (what the upstream should have seen). */
  readonly sent: number;
}

interface Outcome {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly detail?: string;
}

/**
 * Loads one target with a closed loop and returns every latency.
 *
 * @example
 * const result = await runClosedLoop(target, { concurrency: 32, durationMs: 4000, maxRequests: 400_000, settleMs: 300 });
 * console.log(result.requests / (result.durationMs / 1000), summarizeLatencies(result.latenciesMs).p50);
 */
export async function runClosedLoop(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(target.url);
  if (url.protocol !== "http:") throw new Error(`only http: targets are supported, not ${url.protocol}`);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const requestOptions: RequestOptions = {
    agent,
    host: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    method: "POST",
    headers: { ...target.headers, "content-type": "application/json", "content-length": String(target.body.length) },
  };

  const send = () =>
    new Promise<Outcome>((resolve) => {
      const started = performance.now();
      const request = httpRequest(requestOptions, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.once("error", (error) => resolve({ ok: false, latencyMs: performance.now() - started, detail: error.message }));
        response.once("end", () => {
          const latencyMs = performance.now() - started;
          const body = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
          if (response.statusCode === 200 && body.includes(target.expectInBody)) return resolve({ ok: true, latencyMs });
          resolve({ ok: false, latencyMs, detail: `HTTP ${String(response.statusCode)}: ${body.toString("utf8").slice(0, 400)}` });
        });
      });
      request.once("error", (error) => resolve({ ok: false, latencyMs: performance.now() - started, detail: error.message }));
      request.end(target.body);
      sent++;
    });

  let errors = 0;
  let sent = 0;
  let firstError: string | undefined;
  const noteFailure = (outcome: Outcome) => {
    errors++;
    firstError ??= outcome.detail;
  };

  try {
    // Settle: same loop, nothing recorded but failures.
    const settleEnd = performance.now() + options.settleMs;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < settleEnd) {
          const outcome = await send();
          if (!outcome.ok) noteFailure(outcome);
        }
      }),
    );

    const latencies = new Float64Array(options.maxRequests);
    let started = 0;
    let recorded = 0;
    options.onWindow?.("start");
    const cpuBefore = process.cpuUsage();
    const windowStart = performance.now();
    const deadline = windowStart + options.durationMs;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (started < options.maxRequests && performance.now() < deadline) {
          started++;
          const outcome = await send();
          if (outcome.ok) latencies[recorded++] = outcome.latencyMs;
          else noteFailure(outcome);
        }
      }),
    );
    const durationMs = performance.now() - windowStart;
    const cpu = process.cpuUsage(cpuBefore);
    options.onWindow?.("end");
    return {
      requests: recorded,
      errors,
      firstError,
      durationMs,
      latenciesMs: latencies.slice(0, recorded),
      clientCpuMicros: cpu.user + cpu.system,
      sent,
    };
  } finally {
    agent.destroy();
  }
}

/**
 * The percentile of ascending `sorted` values by nearest rank (p99 of 1,000 samples is the
 * 990th smallest); NaN when there are none. Every benchmark reports percentiles this way.
 *
 * @example
 * percentile([1, 2, 3, 4], 50); // 2
 */
export function percentile(sorted: ArrayLike<number>, percent: number): number {
  return sorted[Math.max(0, Math.ceil((percent / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * The middle of `values` (any order), the mean of the two middle ones for an even count; NaN when
 * there are none. For a handful of per-round ratios, where nearest rank would pick one side.
 *
 * @example
 * median([4.91, 5.13, 3.96, 5.92]); // 5.02
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Percentiles by nearest rank (see {@link percentile}), the maximum and the mean.
 *
 * @example
 * summarizeLatencies(Float64Array.of(1, 2, 3)).p50; // 2
 */
export function summarizeLatencies(latenciesMs: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const rank = (percent: number) => percentile(sorted, percent);
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    p999: rank(99.9),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}
