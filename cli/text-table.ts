import { forTerminal } from "./terminal-text.js";

/**
 * Lays out a header and rows as left-aligned columns two spaces apart, as
 * the CLI's tables print them (trailing spaces trimmed). Cells go through
 * forTerminal: model ids and backend names come from backends.
 *
 * @example
 * formatTable(["MODEL", "STATE"], [["qwen.gguf", "loaded"]]); // ["MODEL      STATE", "qwen.gguf  loaded"]
 */
export function formatTable(header: readonly string[], unsafeRows: readonly (readonly string[])[]): string[] {
  const rows = unsafeRows.map((row) => row.map(forTerminal));
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
}
