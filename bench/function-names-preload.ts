/**
 * Loaded into a server process by bench/function-names.ts (`node --import
 * tsx --import ./bench/function-names-preload.ts …`, before any module of
 * the server): counts the calls that give a function its `name` with
 * `Object.defineProperty`, by the line that made the function. tsx
 * compiles with esbuild's `keepNames`, which does exactly that for every
 * named function expression, arrow, class field or declaration each time
 * it is evaluated, so a call on the request path means a function made
 * per request.
 *
 * SIGUSR1 starts counting from zero; SIGUSR2 prints the counts as
 * `NAMES <count> <frame>` lines and `NAMES end`.
 */
const defineProperty = Object.defineProperty;
const counts = new Map<string, number>();
let counting = false;

Object.defineProperty = function countingDefineProperty(target: object, key: PropertyKey, attributes: PropertyDescriptor) {
  if (counting && key === "name" && typeof target === "function") {
    // Frames: this function, esbuild's __name helper, the code that made the function.
    const frame = (new Error().stack ?? "").split("\n")[3]?.trim() ?? "(unknown)";
    counts.set(frame, (counts.get(frame) ?? 0) + 1);
  }
  return defineProperty(target, key, attributes);
} as typeof Object.defineProperty;

process.on("SIGUSR1", () => {
  counts.clear();
  counting = true;
});
process.on("SIGUSR2", () => {
  counting = false;
  for (const [frame, count] of [...counts.entries()].sort((a, b) => b[1] - a[1])) console.log(`NAMES ${count} ${frame}`);
  console.log("NAMES end");
});
