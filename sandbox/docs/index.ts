/**
 * The sandbox SDK's documentation index: its types, a parser for the JSON
 * file the code generator writes, a search, and the name distance used for
 * "did you mean" rankings.
 */
export type { DocsEntry, DocsEntryKind, DocsIndex, ParseDocsIndexResult } from "./docs-index.js";
export { parseDocsIndex } from "./docs-index.js";
export { nameDistance, rankByName } from "./name-distance.js";
export { searchDocs } from "./search-docs.js";
