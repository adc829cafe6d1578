/** Small text helpers for the generated declarations and docs. */

/** Whether a type must be parenthesized before `[]`. */
export function needsParens(type: string): boolean {
  return type.includes("|") && !type.startsWith("{");
}

const identifierName = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Whether a name can be written unquoted, as an identifier or property name. */
export function isIdentifier(name: string): boolean {
  return identifierName.test(name);
}

/** A property name, quoted when it is not an identifier. */
export function propertyKey(name: string): string {
  return isIdentifier(name) ? name : JSON.stringify(name);
}

/** Escapes text for a JSDoc block and prefixes each line. */
export function jsDoc(text: string, indent: string): string[] {
  if (text.trim() === "") return [];
  const lines = text.replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1 && (lines[0] ?? "").length + indent.length < 96) {
    return [`${indent}/** ${lines[0]} */`];
  }
  return [`${indent}/**`, ...lines.map((l) => (l === "" ? `${indent} *` : `${indent} * ${l}`)), `${indent} */`];
}

/** Joins the non-empty parts with blank lines. */
export function paragraphs(...parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => p !== undefined && p.trim() !== "").join("\n\n");
}

/** "Rules: a; b." or nothing. */
export function rulesSentence(phrases: readonly string[]): string | undefined {
  return phrases.length === 0 ? undefined : `Rules: ${phrases.join("; ")}.`;
}

/** A proto comment flattened to one paragraph per blank-line-separated block, for the docs index. */
export function flat(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((p) => p.replace(/\s*\n\s*/g, " ").trim())
    .filter((p) => p !== "")
    .join("\n\n");
}

/** Upper-cases the first letter. */
export function capitalize(text: string): string {
  return text.length === 0 ? text : (text[0]?.toUpperCase() ?? "") + text.slice(1);
}
