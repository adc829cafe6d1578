/**
 * The model's code is the body of an async function. This wraps it for the
 * type-checker and maps positions back to the model's lines and columns.
 * The checker compiles the wrapped file as a module (`moduleDetection:
 * force`), so nothing in it leaks into the global scope.
 */

/** The wrapper's first line; the model's line 1 is the file's second line. */
export const wrapperPrefix = "async function __main(): Promise<unknown> {\n";
/** Closes the function. */
const wrapperSuffix = "\n}\n";

/** The wrapped source text. */
export function wrapUserCode(code: string): string {
  return wrapperPrefix + code + wrapperSuffix;
}

/** A 1-based position in the model's code. */
export interface UserPosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Maps an offset in the wrapped text to the model's line and column.
 * Offsets inside the prefix map to 1:1, offsets after the code (in the
 * suffix) to the end of the code.
 */
export function toUserPosition(code: string, wrappedOffset: number): UserPosition {
  const offset = Math.min(Math.max(wrappedOffset - wrapperPrefix.length, 0), code.length);
  let line = 1;
  let lineStart = 0;
  for (let i = code.indexOf("\n"); i !== -1 && i < offset; i = code.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
