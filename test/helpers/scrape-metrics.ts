import { type Sample, find, parseExposition, valueOf } from "../server/observability/exposition.js";

/** A parsed `/metrics` scrape and its Content-Type. */
export interface Scrape {
  readonly contentType: string;
  readonly samples: readonly Sample[];
  /** The value of the one sample matching exactly; 0 when there is none (a counter not yet incremented). */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
  /** Every sample of one metric whose labels include `labels`. */
  find(name: string, labels?: Readonly<Record<string, string>>): Sample[];
}

/**
 * Scrapes `GET {baseUrl}/metrics` the way Prometheus does and parses the
 * text exposition, so tests assert on what a scraper sees.
 *
 * @example
 * const before = await scrapeMetrics(gateway.url);
 * // … one request …
 * const after = await scrapeMetrics(gateway.url);
 * expect(after.value("protogate_requests_total", labels) - before.value("protogate_requests_total", labels)).toBe(1);
 */
export async function scrapeMetrics(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const samples = parseExposition(await response.text());
  return {
    contentType: response.headers.get("content-type") ?? "",
    samples,
    value: (name, labels = {}) => (find(samples, name, labels).length === 0 ? 0 : valueOf(samples, name, labels)),
    find: (name, labels = {}) => find(samples, name, labels),
  };
}
