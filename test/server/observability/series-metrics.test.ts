import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { SeriesCounter, SeriesGauge, SeriesHistogram } from "../../../server/observability/series-metrics.js";
import { createRandom } from "../../helpers/random-json.js";
import { parseExposition, valueOf } from "./exposition.js";

const labelNames = ["service", "method", "model"] as const;
type LabelName = (typeof labelNames)[number];
const buckets = [0.0001, 0.001, 0.0025, 0.01, 0.1, 1, 2.5, 600];
// Label values a hostile client could make appear (after allowlisting they are model ids): quotes, backslashes, newlines, unicode.
const labelSets: ReadonlyArray<readonly [string, string, string]> = [
  ["protogate.v1.InferenceService", "Chat", "qwen3:0.6b"],
  ["protogate.v1.InferenceService", "ChatStream", "Llama-3.2-1B-Instruct-Q4_K_M.gguf"],
  ["grpc.health.v1.Health", "Check", "none"],
  ["protogate.v1.ModelService", "ListModels", 'we"ird\\name\nwith ünïcode'],
];
const asObject = (values: readonly string[]) =>
  Object.fromEntries(labelNames.map((name, index) => [name, values[index] ?? ""])) as Record<LabelName, string>;

describe("series metrics render exactly as prom-client's own", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`the same random updates give byte-identical exposition text (seed ${seed})`, async () => {
      const random = createRandom(seed);
      const theirs = new Registry();
      const ours = new Registry();
      const make = (registry: Registry) => ({ name: "x", help: 'help with "quotes" and \\ backslash', labelNames: [...labelNames], registers: [registry] });
      const reference = {
        counter: new Counter<LabelName>({ ...make(theirs), name: "x_requests_total" }),
        gauge: new Gauge<LabelName>({ ...make(theirs), name: "x_in_flight" }),
        histogram: new Histogram<LabelName>({ ...make(theirs), name: "x_duration_seconds", buckets }),
      };
      const series = {
        counter: new SeriesCounter({ ...make(ours), name: "x_requests_total" }),
        gauge: new SeriesGauge({ ...make(ours), name: "x_in_flight" }),
        histogram: new SeriesHistogram({ ...make(ours), name: "x_duration_seconds", buckets }),
      };
      for (let step = 0; step < 2000; step++) {
        const values = random.pick(labelSets);
        const labels = asObject(values);
        switch (random.int(4)) {
          case 0: {
            const amount = random.int(3) === 0 ? random.int(500) : 1;
            reference.counter.inc(labels, amount);
            series.counter.series(values).value += amount;
            break;
          }
          case 1: {
            const delta = random.int(2) === 0 ? 1 : -1;
            reference.gauge.inc(labels, delta);
            series.gauge.series(values).value += delta;
            break;
          }
          default: {
            // Bounds themselves, values between them, zero, tiny and above the top bucket.
            const value = random.pick([0, 0.0001, 0.00099, 0.001, 0.0123, 1, 2.5, 2.5000001, 599.9, 600, 601, random.next() * 3, random.next() / 1000]);
            reference.histogram.observe(labels, value);
            series.histogram.series(values).observe(value);
          }
        }
      }
      const text = await ours.metrics();
      expect(text).toBe(await theirs.metrics());
      expect(text).toContain('x_duration_seconds_bucket{le="+Inf"');
    });
  }

  it("a series taken once keeps counting, and shows up at zero once taken", async () => {
    const registry = new Registry();
    const counter = new SeriesCounter({ name: "y_total", help: "y", labelNames: ["code"], registers: [registry] });
    const ok = counter.series(["ok"]);
    counter.series(["not_found"]);
    ok.value += 2;
    ok.value += 3;
    const samples = parseExposition(await registry.metrics());
    expect(valueOf(samples, "y_total", { code: "ok" })).toBe(5);
    expect(valueOf(samples, "y_total", { code: "not_found" })).toBe(0);
    expect(counter.series(["ok"])).toBe(ok);
  });

  it("sits in one registry beside prom-client's metrics", async () => {
    const registry = new Registry();
    new Counter({ name: "a_total", help: "a", registers: [registry] }).inc();
    new SeriesHistogram({ name: "b_seconds", help: "b", labelNames: [], buckets: [1], registers: [registry] }).series([]).observe(0.5);
    const samples = parseExposition(await registry.metrics());
    expect(valueOf(samples, "a_total")).toBe(1);
    expect(valueOf(samples, "b_seconds_bucket", { le: "1" })).toBe(1);
    expect(valueOf(samples, "b_seconds_count")).toBe(1);
    expect(() => new SeriesCounter({ name: "a_total", help: "again", labelNames: [], registers: [registry] })).toThrow(/already been registered/);
  });

  it("rejects a wrong number of label values, ignores non-finite observations, and forgets series on reset", async () => {
    const registry = new Registry();
    const histogram = new SeriesHistogram({ name: "z_seconds", help: "z", labelNames: ["model"], buckets: [1], registers: [registry] });
    expect(() => histogram.series([])).toThrow("z_seconds takes 1 label values, got 0");
    expect(() => histogram.series(["a", "b"])).toThrow("z_seconds takes 1 label values, got 2");
    const series = histogram.series(["qwen"]);
    series.observe(Number.NaN);
    series.observe(Number.POSITIVE_INFINITY);
    series.observe(2);
    const samples = parseExposition(await registry.metrics());
    expect(valueOf(samples, "z_seconds_count", { model: "qwen" })).toBe(1);
    expect(valueOf(samples, "z_seconds_sum", { model: "qwen" })).toBe(2);
    expect(valueOf(samples, "z_seconds_bucket", { model: "qwen", le: "1" })).toBe(0);
    histogram.reset();
    expect(parseExposition(await registry.metrics())).toEqual([]);
  });
});
