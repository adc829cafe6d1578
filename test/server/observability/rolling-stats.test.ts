import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createRollingStats } from "../../../server/observability/index.js";
import { createFakeClock, seededRandom } from "../reliability/test-doubles.js";

const t0 = 1_000_000; // bucket 100 with 10 s buckets; the stats were created at 0

function setup(options: { knownModels?: () => ReadonlySet<string>; maxModels?: number; createdAt?: number } = {}) {
  const clock = createFakeClock(options.createdAt ?? 0);
  const stats = createRollingStats({ now: clock.now, ...options });
  clock.set(t0);
  return { clock, stats };
}

/** Expects `actual` within ±2 % of `expected`. */
function near(actual: number | null, expected: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs((actual as number) - expected) / expected).toBeLessThanOrEqual(0.02);
}

describe("createRollingStats", () => {
  it("summarises counts, rate, percentiles and errors for each window", () => {
    const { clock, stats } = setup();
    for (let index = 1; index <= 100; index += 1) {
      const code = index <= 5 ? Code.Unavailable : index <= 7 ? Code.InvalidArgument : "ok";
      stats.record({ model: "qwen", backend: "llama", code, latencyMs: index, ttftMs: index / 10 });
    }
    clock.advance(5000);
    const { models } = stats.summary();
    expect(models.map(({ model, backends }) => ({ model, backends }))).toEqual([{ model: "qwen", backends: ["llama"] }]);
    const window = models[0]?.windows["1m"];
    if (window === undefined) throw new Error("no 1m window");
    expect(window.requests).toBe(100);
    // The 1m window is buckets 95..100: 5 full buckets plus 5 s of the current one.
    expect(window.ratePerSecond).toBeCloseTo(100 / 55, 12);
    near(window.latencyP50Ms, 50);
    near(window.latencyP95Ms, 95);
    near(window.ttftP50Ms, 5);
    near(window.ttftP95Ms, 9.5);
    expect(window.errorRate).toBeCloseTo(0.07, 12);
    expect(window.errorsByCode).toEqual({ unavailable: 5, invalid_argument: 2 });
    expect(window.errorFreeSessionRatio).toBeNull();
    expect(models[0]?.windows["5m"].ratePerSecond).toBeCloseTo(100 / 295, 12);
    expect(models[0]?.windows["15m"].ratePerSecond).toBeCloseTo(100 / 895, 12);
  });

  it("ages requests out of the 1, 5 and 15 minute windows", () => {
    const { clock, stats } = setup();
    const record = (count: number) => {
      for (let index = 0; index < count; index += 1) stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: 10 });
    };
    clock.set(t0 - 600_000);
    record(4); // 10 min before t0
    clock.set(t0 - 120_000);
    record(3); // 2 min before t0
    clock.set(t0);
    record(2);
    const counts = (at: number) => {
      const windows = stats.summary(at).models[0]?.windows;
      return windows === undefined ? undefined : [windows["1m"].requests, windows["5m"].requests, windows["15m"].requests];
    };
    expect(counts(t0)).toEqual([2, 5, 9]);
    expect(counts(t0 + 60_000)).toEqual([0, 5, 9]);
    expect(counts(t0 + 190_000)).toEqual([0, 2, 9]);
    expect(counts(t0 + 300_000)).toEqual([0, 0, 5]);
    expect(counts(t0 + 900_000)).toBeUndefined(); // nothing left: the model is dropped
    expect(stats.summary(t0 + 900_000).models).toEqual([]);
  });

  it("does not under-report the rate of a freshly started gateway", () => {
    const { clock, stats } = setup({ createdAt: t0 });
    for (let index = 0; index < 10; index += 1) stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: 1 });
    clock.advance(5000);
    expect(stats.summary().models[0]?.windows["15m"].ratePerSecond).toBe(2);
  });

  it("keeps percentiles within 2 % on 180,000 samples (200 rps for 15 minutes)", () => {
    const { clock, stats } = setup();
    const random = seededRandom(7);
    const latencies: number[] = [];
    const start = t0 - 900_000 + 10_000;
    for (let second = 0; second < 900; second += 1) {
      clock.set(start + second * 1000);
      for (let index = 0; index < 200; index += 1) {
        // Log-normal-ish: 20 ms to ~20 s.
        const latencyMs = 20 * Math.exp(random() * 6.9);
        latencies.push(latencyMs);
        stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs });
      }
    }
    const window = stats.summary(start + 899_999).models[0]?.windows["15m"];
    expect(window?.requests).toBe(180_000);
    latencies.sort((a, b) => a - b);
    const exact = (q: number) => latencies[Math.ceil(q * latencies.length) - 1] as number;
    near(window?.latencyP50Ms ?? null, exact(0.5));
    near(window?.latencyP95Ms ?? null, exact(0.95));
  });

  it("bounds model names by knownModels and maxModels", () => {
    const known = new Set(["qwen"]);
    const { stats } = setup({ knownModels: () => known });
    stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: 1 });
    for (let index = 0; index < 1000; index += 1) {
      stats.record({ model: `junk-${index}`, backend: "llama", code: Code.NotFound, latencyMs: 1 });
    }
    stats.record({ model: undefined, backend: undefined, code: Code.InvalidArgument, latencyMs: 1 });
    const models = stats.summary().models.map(({ model, windows }) => [model, windows["1m"].requests]);
    expect(models).toEqual([
      ["none", 1],
      ["qwen", 1],
      ["unknown", 1000],
    ]);

    const capped = setup({ maxModels: 2 }).stats;
    for (const model of ["a", "b", "c", "d"]) capped.record({ model, backend: "x", code: "ok", latencyMs: 1 });
    expect(capped.summary(t0).models.map(({ model }) => model)).toEqual(["a", "b", "unknown"]);
  });

  it("reports error-free session ratios per model and overall", () => {
    const { clock, stats } = setup();
    stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: 5, sessionId: "s1" });
    stats.record({ model: "qwen", backend: "llama", code: Code.Unavailable, latencyMs: 5, sessionId: "s2" });
    stats.record({ model: "llama3", backend: "ollama", code: "ok", latencyMs: 5, sessionId: "s2" });
    stats.record({ model: "llama3", backend: "ollama", code: "ok", latencyMs: 5, sessionId: "s3" });
    stats.record({ model: "llama3", backend: "ollama", code: "ok", latencyMs: 5 }); // no session
    clock.advance(1000);
    const summary = stats.summary();
    const ratio = (model: string) => summary.models.find((entry) => entry.model === model)?.windows["5m"].errorFreeSessionRatio;
    expect(ratio("qwen")).toBe(0.5);
    expect(ratio("llama3")).toBe(1);
    expect(summary.overall.windows["5m"].errorFreeSessionRatio).toBeCloseTo(2 / 3, 12);
    expect(stats.sessions.active()).toBe(3);
  });

  it("summarises all models together", () => {
    const { clock, stats } = setup();
    for (let index = 1; index <= 50; index += 1) stats.record({ model: "qwen", backend: "llama", code: "ok", latencyMs: index });
    for (let index = 51; index <= 100; index += 1) {
      stats.record({ model: "llama3", backend: "ollama", code: Code.Internal, latencyMs: index });
    }
    clock.advance(10_000);
    const overall = stats.summary().overall;
    expect(overall.model).toBe("*");
    expect(overall.backends).toEqual(["llama", "ollama"]);
    expect(overall.windows["1m"].requests).toBe(100);
    expect(overall.windows["1m"].errorRate).toBe(0.5);
    expect(overall.windows["1m"].errorsByCode).toEqual({ internal: 50 });
    near(overall.windows["1m"].latencyP95Ms, 95);
    expect(overall.windows["1m"].ttftP50Ms).toBeNull();
  });
});
