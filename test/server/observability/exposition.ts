/** One sample line of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format (enough of it for prom-client's output). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const [, name = "", labelText = "", valueText = ""] = match;
    const labels: Record<string, string> = {};
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const label of labelText.matchAll(labelPattern)) {
      labels[label[1] ?? ""] = (label[2] ?? "").replace(/\\(.)/g, (_all, char: string) => (char === "n" ? "\n" : char));
    }
    const value = valueText === "+Inf" ? Number.POSITIVE_INFINITY : valueText === "-Inf" ? Number.NEGATIVE_INFINITY : Number(valueText);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The samples of one metric name whose labels include `labels`. */
export function find(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The value of the one sample matching exactly; throws when there are none or several. */
export function valueOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const matching = find(samples, name, labels);
  if (matching.length !== 1) {
    throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${matching.length}`);
  }
  return (matching[0] as Sample).value;
}
