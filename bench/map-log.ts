/**
 * Reads the log V8 writes with `--log-maps`: which code built which hidden
 * class (map). Used by bench/map-churn.ts and by the test that keeps a
 * Chat from building any (test/e2e/hidden-classes.test.ts).
 *
 * A window of the log is marked by the process itself: a request whose
 * JSON body has a key no program uses (`markerBody`) makes `JSON.parse`
 * add that key to a map, and V8 logs the transition with the key's name.
 * So a window needs no timing: send the start marker, the load, the end
 * marker, stop the process (which flushes the log), then read.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/** A compiled function's code range, from a `code-creation` line. */
export interface CodeRange {
  readonly start: number;
  readonly size: number;
  readonly name: string;
}

/** One `map,KIND,time,from,to,pc,line,column,reason,name` line, reduced to what is counted. */
export interface MapEvent {
  readonly kind: string;
  readonly pc: number;
  /** "prototype" on a Transition: the map had no transition tree to record it in, so the next object makes a new map again. */
  readonly reason: string;
  /** The property a Transition adds ("" for other kinds). */
  readonly property: string;
}

/** What one log line is, for this reader. */
export type MapLogLine = { readonly kind: "code"; readonly range: CodeRange } | { readonly kind: "map"; readonly event: MapEvent } | undefined;

/** Parses one line of the log; undefined for the many kinds not read here. */
export function parseMapLogLine(line: string): MapLogLine {
  if (line.startsWith("code-creation,")) {
    const fields = line.split(",");
    const start = Number.parseInt(fields[4] ?? "", 16);
    const size = Number(fields[5]);
    if (!Number.isFinite(start) || !Number.isFinite(size)) return undefined;
    return { kind: "code", range: { start, size, name: fields.slice(6).join(",") } };
  }
  if (line.startsWith("map,")) {
    const fields = line.split(",");
    return { kind: "map", event: { kind: fields[1] ?? "", pc: Number.parseInt(fields[5] ?? "", 16), reason: fields[8] ?? "", property: fields.slice(9).join(",") } };
  }
  return undefined;
}

/** A JSON request body that marks the log: its one key is `marker`. */
export function markerBody(marker: string): string {
  return JSON.stringify({ [marker]: 1 });
}

/** The code of a whole log, and the map events between two markers. */
export interface MapLogWindow {
  /** Code ranges by start address; a range made later at the same address replaces the earlier one. */
  readonly codes: ReadonlyMap<number, CodeRange>;
  readonly events: readonly MapEvent[];
}

/**
 * Reads `file`: every code range, and the map events after the transition
 * that adds `startMarker` and before the one that adds `endMarker`.
 * Throws when a marker is missing (the window would be wrong).
 */
export async function readMapLogWindow(file: string, startMarker: string, endMarker: string): Promise<MapLogWindow> {
  const codes = new Map<number, CodeRange>();
  const events: MapEvent[] = [];
  let state: "before" | "inside" | "after" = "before";
  const lines = createInterface({ input: createReadStream(file, { encoding: "latin1" }), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const parsed = parseMapLogLine(line);
    if (parsed === undefined) continue;
    if (parsed.kind === "code") {
      codes.set(parsed.range.start, parsed.range);
      continue;
    }
    const { event } = parsed;
    if (state === "before" && event.property === startMarker) state = "inside";
    else if (state === "inside" && event.property === endMarker) state = "after";
    else if (state === "inside") events.push(event);
  }
  if (state !== "after") throw new Error(`the log has no window between "${startMarker}" and "${endMarker}" (${state === "before" ? "no start" : "no end"} marker)`);
  return { codes, events };
}

/** Whether an event gave an object a map that the next object of its kind will not share. */
export function isNewMapPerObject(event: MapEvent): boolean {
  return event.kind === "Transition" && event.reason === "prototype";
}

/**
 * The function whose code holds `pc`, as "name path" with the path cut to
 * the repository or the package ("?" for an address the log does not
 * name, e.g. code made before logging began). Best effort: V8 frees code
 * and reuses its addresses without logging it, so a name can be that of
 * older code at the same place, and an optimised function's events carry
 * the name of the function it was inlined into.
 */
export function functionAt(window: MapLogWindow, pc: number, sortedStarts: readonly number[] = [...window.codes.keys()].sort((a, b) => a - b)): string {
  let low = 0;
  let high = sortedStarts.length - 1;
  if (high < 0) return "?";
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if ((sortedStarts[middle] ?? 0) <= pc) low = middle;
    else high = middle - 1;
  }
  const range = window.codes.get(sortedStarts[low] ?? -1);
  if (range === undefined || pc < range.start || pc >= range.start + range.size) return "?";
  // "chat file:///…/server/services/upstream-call.ts:1:1521" → "chat server/services/upstream-call.ts"
  const name = range.name.replace(/file:\/\/\S*?\/((?:server|bench|node_modules)\/\S*?)(?::\d+)+.*$/, "$1").replace(/,0x[0-9a-f]+,.*$/, "");
  return name.startsWith(" ") ? `(anonymous)${name}` : name;
}

/** Counts per kind and per site ("kind | property | function"), most first. */
export function countMapEvents(window: MapLogWindow): { byKind: Array<[string, number]>; bySite: Array<[string, number]> } {
  const starts = [...window.codes.keys()].sort((a, b) => a - b);
  const byKind = new Map<string, number>();
  const bySite = new Map<string, number>();
  for (const event of window.events) {
    const kind = isNewMapPerObject(event) ? "Transition (no transition tree)" : event.kind;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    const site = `${kind} | ${event.property === "" ? "—" : event.property} | ${functionAt(window, event.pc, starts)}`;
    bySite.set(site, (bySite.get(site) ?? 0) + 1);
  }
  const mostFirst = (counts: Map<string, number>) => [...counts].sort((a, b) => b[1] - a[1]);
  return { byKind: mostFirst(byKind), bySite: mostFirst(bySite) };
}
