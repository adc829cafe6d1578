/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. written by
 * `npm run bench:gateway -- --cpu-prof`): self time by function and by
 * file, and inclusive time of the heaviest functions, so hotspots can be
 * read without opening DevTools.
 *
 *   npx tsx bench/profile-summary.ts /tmp/protogate-cpu-prof-XXXX/CPU.….cpuprofile [--top 25] [--last 8]
 *
 * `--last S` keeps only the profile's last S seconds: the steady state of
 * a benchmark's final window, without startup (module loading, the
 * sandbox's warm-up) and the JIT's first thousands of requests.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

/** One node of a V8 CPU profile's call tree. */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

/** The parts of a `.cpuprofile` this summary reads. */
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

function isCpuProfile(value: unknown): value is CpuProfile {
  return typeof value === "object" && value !== null && "nodes" in value && "samples" in value && "timeDeltas" in value;
}

function shortUrl(url: string): string {
  if (url === "") return "(native)";
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  const inModules = path.lastIndexOf("node_modules/");
  if (inModules !== -1) return path.slice(inModules + "node_modules/".length);
  return path.startsWith("/") ? relative(repoRoot, path) : path;
}

/** The package (or repository folder) a file belongs to. */
function owner(url: string): string {
  const short = shortUrl(url);
  if (short.startsWith("node:")) return "node: internals";
  if (short === "(native)") return "(native/V8: GC, program, idle)";
  const parts = short.split("/");
  if (short.startsWith("@")) return `${parts[0] ?? ""}/${parts[1] ?? ""}`;
  return parts[0] ?? short;
}

/**
 * Prints the summary of one profile.
 *
 * @example
 * summarizeProfile(JSON.parse(readFileSync(file, "utf8")), 25);
 */
export function summarizeProfile(profile: CpuProfile, top: number, lastSeconds = Number.POSITIVE_INFINITY): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfMicros = new Map<number, number>();
  const span = profile.timeDeltas.reduce((sum, delta) => sum + delta, 0);
  const from = span - lastSeconds * 1e6;
  let elapsed = 0;
  let total = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    elapsed += delta;
    if (elapsed < from) return;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
    total += delta;
  });
  const label = (node: ProfileNode) =>
    `${node.callFrame.functionName || "(anonymous)"} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

  const selfByFunction = new Map<string, number>();
  const selfByOwner = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (node === undefined) continue;
    if (node.callFrame.functionName === "(idle)") {
      idle += micros;
      continue;
    }
    selfByFunction.set(label(node), (selfByFunction.get(label(node)) ?? 0) + micros);
    selfByOwner.set(owner(node.callFrame.url), (selfByOwner.get(owner(node.callFrame.url)) ?? 0) + micros);
    // Inclusive: credit every distinct frame on the stack once.
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current);
      if (frame === undefined) break;
      const name = label(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
    }
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => `  ${((100 * micros) / busy).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`)
      .join("\n");
  return [
    `profile: ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages are of busy time)`,
    "self time by package/folder:",
    rows(selfByOwner),
    "self time by function:",
    rows(selfByFunction),
    "inclusive time by function:",
    rows(inclusive),
  ].join("\n");
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "25" }, last: { type: "string" } }, allowPositionals: true });
  if (positionals.length === 0) throw new Error("usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--last SECONDS]");
  for (const file of positionals) {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!isCpuProfile(parsed)) throw new Error(`${file} is not a V8 .cpuprofile`);
    console.log(`# ${file}`);
    console.log(summarizeProfile(parsed, Number(values.top), values.last === undefined ? undefined : Number(values.last)));
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
