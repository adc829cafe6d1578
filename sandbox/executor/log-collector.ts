/**
 * Keeps captured console lines within the line and byte limits. The child
 * applies it next to the isolate, before anything crosses IPC; the parent
 * applies it again to what the child sends.
 */
import type { LogLevel, LogLine } from "./types.js";

/** Captured lines of one execution. */
export interface LogCollector {
  /** Adds a line; returns what was kept (possibly cut), or undefined once the limit was reached. */
  add(level: LogLevel, text: string): LogLine | undefined;
  /** Marks that lines were dropped (the other side of IPC hit the limit first). */
  truncate(): void;
  /** True once a line was dropped or cut. */
  readonly truncated: boolean;
  /** The kept lines, then one marker line if anything was dropped. */
  lines(): LogLine[];
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const bytes = Buffer.from(text, "utf8");
  let end = Math.max(0, Math.floor(maxBytes));
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString("utf8");
}

/**
 * Creates a collector: at most `maxLogLines` lines and `maxLogBytes` bytes of
 * text are kept; the line that overflows the byte budget is cut, later lines
 * are dropped, and `lines()` ends with one marker line saying so.
 *
 * @example
 * const logs = createLogCollector({ maxLogLines: 200, maxLogBytes: 65536 });
 * logs.add("log", "hello"); // { level: "log", text: "hello" }
 */
export function createLogCollector(limits: {
  readonly maxLogLines: number;
  readonly maxLogBytes: number;
}): LogCollector {
  const kept: LogLine[] = [];
  let bytes = 0;
  let truncated = false;
  return {
    add(level, text) {
      if (truncated) return undefined;
      if (kept.length >= limits.maxLogLines) {
        truncated = true;
        return undefined;
      }
      const size = Buffer.byteLength(text, "utf8");
      if (bytes + size <= limits.maxLogBytes) {
        bytes += size;
        const line = { level, text };
        kept.push(line);
        return line;
      }
      truncated = true;
      const cut = truncateUtf8(text, limits.maxLogBytes - bytes);
      bytes = limits.maxLogBytes;
      if (cut.length === 0) return undefined;
      const line = { level, text: cut };
      kept.push(line);
      return line;
    },
    truncate() {
      truncated = true;
    },
    get truncated() {
      return truncated;
    },
    lines() {
      if (!truncated) return kept.slice();
      return [
        ...kept,
        {
          level: "warn",
          text:
            `[sandbox] console output over the limit ` +
            `(${limits.maxLogLines} lines, ${limits.maxLogBytes} bytes) was dropped`,
        },
      ];
    },
  };
}
