/** The committed sandbox SDK (gen/sandbox), as the checker tests use it. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type DocsIndex, parseDocsIndex } from "../../../sandbox/docs/index.js";

const gen = (name: string) => fileURLToPath(new URL(`../../../gen/sandbox/${name}`, import.meta.url));

export const declarations = readFileSync(gen("gateway.d.ts"), "utf8");

export const docs: DocsIndex = (() => {
  const parsed = parseDocsIndex(JSON.parse(readFileSync(gen("docs-index.json"), "utf8")));
  if (parsed.kind !== "ok") throw new Error(`gen/sandbox/docs-index.json: ${parsed.reason}`);
  return parsed.index;
})();
