/**
 * Just enough of the Source Map v3 format to map a generated line and column
 * back to the TypeScript the agent wrote: a base64 VLQ decoder and a lookup.
 */

/** A 0-based position in a source. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** Maps positions of generated JavaScript back to the original source. */
export interface PositionMapper {
  /** The original position for a 0-based generated position, if the map covers that line. */
  originalPosition(line: number, column: number): SourcePosition | undefined;
}

const base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const digitOf = new Map([...base64].map((c, i) => [c, i]));

/** Decodes one segment's VLQ fields ("AAAA" → [0, 0, 0, 0]); undefined when malformed. */
export function decodeVlqSegment(segment: string): number[] | undefined {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = digitOf.get(char);
    if (digit === undefined) return undefined;
    value += (digit & 31) * 2 ** shift;
    if ((digit & 32) !== 0) {
      shift += 5;
      if (shift > 30) return undefined;
      continue;
    }
    values.push(value % 2 === 1 ? -Math.floor(value / 2) : value / 2);
    value = 0;
    shift = 0;
  }
  return shift === 0 ? values : undefined;
}

interface Segment {
  readonly column: number;
  readonly original: SourcePosition;
}

/**
 * Builds a mapper from a source map's `mappings` string (single source).
 *
 * @example
 * const mapper = createPositionMapper(JSON.parse(sourceMapText).mappings);
 * mapper.originalPosition(2, 4); // { line: 1, column: 0 }
 */
export function createPositionMapper(mappings: string): PositionMapper {
  const lines: Segment[][] = [];
  let originalLine = 0;
  let originalColumn = 0;
  for (const lineText of mappings.split(";")) {
    const segments: Segment[] = [];
    let column = 0;
    for (const text of lineText.split(",")) {
      if (text.length === 0) continue;
      const fields = decodeVlqSegment(text);
      if (fields === undefined || fields.length === 0) continue;
      column += fields[0] ?? 0;
      if (fields.length < 4) continue;
      originalLine += fields[2] ?? 0;
      originalColumn += fields[3] ?? 0;
      segments.push({ column, original: { line: originalLine, column: originalColumn } });
    }
    segments.sort((a, b) => a.column - b.column);
    lines.push(segments);
  }
  return {
    originalPosition(line, column) {
      const segments = lines[line];
      if (segments === undefined || segments.length === 0) return undefined;
      let best = segments[0];
      for (const segment of segments) {
        if (segment.column > column) break;
        best = segment;
      }
      if (best === undefined) return undefined;
      return { line: best.original.line, column: best.original.column + Math.max(0, column - best.column) };
    },
  };
}
