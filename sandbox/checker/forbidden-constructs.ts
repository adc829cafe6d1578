/**
 * Finds the constructs sandbox code may not use: module loading (`import`,
 * `import()`, `import.meta`, `require`), code from strings (`eval`,
 * `Function`, and `.constructor`, which reaches the Function constructor
 * from any function), and the global object (`globalThis`, `global`, `self`,
 * `window`) through which all of these can be reached dynamically.
 *
 * This gives the model a clear message early; it is not the security
 * boundary (the executor's isolate is).
 */
import ts from "typescript";

/** One forbidden use, as an offset range in the wrapped source. */
export interface ForbiddenUse {
  readonly start: number;
  /** End of the whole construct (for `import("x")`, the call), to silence TypeScript's errors inside it. */
  readonly end: number;
  readonly code: string;
  readonly message: string;
  readonly help: string;
}

const available =
  "Sandbox code can use only `gateway`, `SdkError`, `console` and the ES2023 library (Math, JSON, Array, Map, Promise, …).";

const forbiddenNames: ReadonlyMap<string, { code: string; message: string; help: string }> = new Map([
  [
    "require",
    {
      code: "forbidden_require",
      message: "`require` is not available in the sandbox.",
      help: `Modules cannot be loaded. ${available}`,
    },
  ],
  [
    "eval",
    {
      code: "forbidden_eval",
      message: "`eval` is not allowed in the sandbox.",
      help: `Write the code directly instead of building it as a string. ${available}`,
    },
  ],
  [
    "Function",
    {
      code: "forbidden_function_constructor",
      message: "The `Function` constructor is not allowed in the sandbox.",
      help: "Write functions directly: `const f = (x: number) => x * 2;`.",
    },
  ],
  ...["globalThis", "global", "self", "window"].map(
    (name) =>
      [
        name,
        {
          code: "forbidden_global",
          message: `\`${name}\` is not allowed in the sandbox.`,
          help: `Refer to globals directly (\`gateway\`, \`JSON\`, \`Math\`). ${available}`,
        },
      ] as const,
  ),
]);

const constructorAccess = {
  code: "forbidden_constructor_access",
  message: "Accessing `.constructor` is not allowed in the sandbox.",
  help: "It can reach the Function constructor. Use `instanceof` or `typeof` to test what a value is.",
};

const importUse = (what: string) => ({
  code: "forbidden_import",
  message: `${what} is not allowed in the sandbox.`,
  help: `Nothing can be imported: \`gateway\`, \`SdkError\` and \`console\` are already in scope, and the SDK's types (ChatRequest, Message, …) can be used by name. ${available}`,
});

/** Whether an identifier is only a property or label name here, not a reference to a binding. */
function isNameOnly(id: ts.Identifier): boolean {
  const p = id.parent;
  if (
    ts.isPropertyAccessExpression(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) ||
    ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p) ||
    ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p) || ts.isEnumMember(p)
  ) {
    return p.name === id;
  }
  if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return p.label === id;
  if (ts.isQualifiedName(p)) return p.right === id;
  if (ts.isBindingElement(p)) return p.propertyName === id;
  return false;
}

function literalKey(node: ts.Expression): string | undefined {
  return ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) ? node.text : undefined;
}

/** Walks `root` (the wrapper function's body) and lists every forbidden use, in source order. */
export function findForbiddenConstructs(sourceFile: ts.SourceFile, root: ts.Node): ForbiddenUse[] {
  const out: ForbiddenUse[] = [];
  const add = (node: ts.Node, what: { code: string; message: string; help: string }, whole: ts.Node = node) => {
    out.push({ start: node.getStart(sourceFile), end: whole.getEnd(), ...what });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isImportEqualsDeclaration(node)) {
      add(node, importUse("`import`"));
    } else if (ts.isExportDeclaration(node) || ts.isExportAssignment(node)) {
      add(node, importUse("`export`"));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, importUse("`import()`"));
    } else if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
      add(node, importUse("`import.meta`"));
    } else if (ts.isIdentifier(node)) {
      const named = forbiddenNames.get(node.text);
      if (named !== undefined && !isNameOnly(node)) {
        // `require("x")`: the whole call, so "Cannot find name 'require'" is not repeated.
        const call = ts.isCallExpression(node.parent) && node.parent.expression === node ? node.parent : node;
        add(node, named, call);
      }
    } else if (ts.isPropertyAccessExpression(node) && node.name.text === "constructor") {
      add(node.name, constructorAccess);
    } else if (ts.isElementAccessExpression(node)) {
      const key = literalKey(node.argumentExpression);
      if (key === "constructor") add(node.argumentExpression, constructorAccess);
      const named = key === undefined ? undefined : forbiddenNames.get(key);
      if (named !== undefined) add(node.argumentExpression, named);
    } else if (
      ts.isBindingElement(node) &&
      ts.isObjectBindingPattern(node.parent) &&
      (node.propertyName ?? node.name).getText(sourceFile) === "constructor"
    ) {
      add(node, constructorAccess);
    }
    ts.forEachChild(node, visit);
  };
  visit(root);
  return out;
}
