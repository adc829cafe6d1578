/**
 * Help texts for TypeScript diagnostics in sandbox code: exactly the docs a
 * model needs to fix the error, read from the type checker (the type at the
 * error, its properties, their JSDoc) rather than from the message text.
 *
 * - unknown member (2339, 2551): the receiver's members, nearest name first,
 *   and a deeper match (`gateway.chat` → `gateway.inference.chat`);
 * - unknown key (2353, 2561): the expected type's fields, nearest first;
 * - missing keys (2741, 2739, 2740, or inside 2345/2322): the missing fields
 *   first, then the other fields, with optionality, docs and rules;
 * - wrong type (2322, 2820, 2345): the expected property or the called
 *   method's signature and docs, allowed enum values nearest first;
 * - wrong call (2554, 2555, 2769): the signature, docs and request fields;
 * - unknown name (2304, 2552, …): what is in scope and matching docs entries;
 * - possibly undefined, `unknown`, implicit any, misplaced await, syntax.
 */
import ts from "typescript";
import { type DocsIndex, nameDistance, rankByName, searchDocs } from "../docs/index.js";

/** Caps on help text, so diagnostics stay cheap to put into a prompt. */
export const helpLimits = { perDiagnostic: 1500, total: 6000 } as const;

/** What help generation reads. */
export interface HelpContext {
  readonly checker: ts.TypeChecker;
  /** The wrapped user file. */
  readonly sourceFile: ts.SourceFile;
  /** The file that holds the SDK declarations. */
  readonly sdkFileName: string;
  readonly docs: DocsIndex;
}

/** Cuts text to a length at a line boundary where possible. */
export function capText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = text.lastIndexOf("\n", limit - 2);
  return `${text.slice(0, cut > limit / 2 ? cut : limit - 2)}\n…`;
}

function shorten(text: string, limit: number): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length <= limit ? oneLine : `${oneLine.slice(0, limit - 1)}…`;
}

/** The deepest node whose span contains [start, start + length). */
function nodeAt(sourceFile: ts.SourceFile, start: number, length: number): ts.Node {
  let found: ts.Node = sourceFile;
  const visit = (node: ts.Node): void => {
    if (node.getStart(sourceFile) <= start && start + Math.max(length, 0) <= node.getEnd()) {
      found = node;
      node.forEachChild(visit);
    }
  };
  sourceFile.forEachChild(visit);
  return found;
}

/** The first paragraph of a doc (shortened) plus its format and rules paragraphs. */
function compactDoc(doc: string, firstLimit = 220): string {
  const paragraphs = doc
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, " ").trim())
    .filter((p) => p !== "" && !p.startsWith("@"));
  const [first, ...rest] = paragraphs;
  if (first === undefined) return "";
  const kept = rest.filter((p) => /^(Rules:|Part of oneof|Exactly one|At most one|A 64-bit|Base64|An RFC|A duration|Keys are|Items:|Values:)/.test(p));
  return [shorten(first, firstLimit), ...kept].join(" ");
}

function isNeverMember(symbol: ts.Symbol): boolean {
  const decls = symbol.declarations ?? [];
  return (
    decls.length > 0 &&
    decls.every((d) => ts.isPropertySignature(d) && d.type?.kind === ts.SyntaxKind.NeverKeyword)
  );
}

function jsDocText(decl: ts.Declaration): string {
  return ts
    .getJSDocCommentsAndTags(decl)
    .filter(ts.isJSDoc)
    .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? "")
    .join("\n\n")
    .trim();
}

/** Reads help out of one checked program; a class for its many small shared lookups. */
class HelpWriter {
  constructor(private readonly ctx: HelpContext) {}

  private get checker(): ts.TypeChecker {
    return this.ctx.checker;
  }

  private isSdk(decl: ts.Node): boolean {
    return decl.getSourceFile().fileName === this.ctx.sdkFileName;
  }

  /** A declaration of the symbol worth showing: not a `?: never` oneof member, SDK first. */
  private mainDeclaration(symbol: ts.Symbol): ts.Declaration | undefined {
    const decls = (symbol.declarations ?? []).filter(
      (d) => !(ts.isPropertySignature(d) && d.type?.kind === ts.SyntaxKind.NeverKeyword),
    );
    return decls.find((d) => this.isSdk(d)) ?? decls[0] ?? symbol.declarations?.[0];
  }

  private docOf(symbol: ts.Symbol): string {
    const decl = this.mainDeclaration(symbol);
    const fromDecl = decl === undefined ? "" : jsDocText(decl);
    return fromDecl !== "" ? fromDecl : ts.displayPartsToString(symbol.getDocumentationComment(this.checker));
  }

  private typeText(type: ts.Type): string {
    return this.checker.typeToString(type, undefined, ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope);
  }

  /** Every property of a type; for unions (oneofs), of all members, preferring real fields over `?: never`. */
  private propertiesOf(type: ts.Type): ts.Symbol[] {
    const t = this.checker.getNonNullableType(type);
    const parts = t.isUnion() ? t.types : [t];
    const byName = new Map<string, ts.Symbol>();
    for (const part of parts) {
      for (const p of this.checker.getPropertiesOfType(this.checker.getApparentType(part))) {
        const known = byName.get(p.name);
        if (known === undefined || (isNeverMember(known) && !isNeverMember(p))) byName.set(p.name, p);
      }
    }
    return [...byName.values()].filter((p) => !p.name.startsWith("__@"));
  }

  private isSdkType(type: ts.Type): boolean {
    const t = this.checker.getNonNullableType(type);
    const parts = t.isUnion() ? t.types : [t];
    return parts.some((p) => {
      const symbol = p.aliasSymbol ?? p.getSymbol();
      return (symbol?.declarations ?? []).some((d) => this.isSdk(d));
    });
  }

  private isOptional(symbol: ts.Symbol): boolean {
    return (symbol.flags & ts.SymbolFlags.Optional) !== 0;
  }

  /** `name?: Type` or `name(params): Result`, as declared. */
  memberSignature(symbol: ts.Symbol): string {
    const decl = this.mainDeclaration(symbol);
    if (
      decl !== undefined &&
      this.isSdk(decl) &&
      (ts.isPropertySignature(decl) || ts.isMethodSignature(decl) || ts.isVariableDeclaration(decl))
    ) {
      const text = decl.getText().replace(/;\s*$/, "").replace(/\s+/g, " ");
      return isNeverMember(symbol) ? text : text.replace(/^readonly /, "");
    }
    const type = this.checker.getTypeOfSymbol(symbol);
    const call = type.getCallSignatures()[0];
    if (call !== undefined && (symbol.flags & ts.SymbolFlags.Method) !== 0) {
      return `${symbol.name}${this.checker.signatureToString(call)}`;
    }
    return `${symbol.name}${this.isOptional(symbol) ? "?" : ""}: ${this.typeText(type)}`;
  }

  /** `- signature — doc` for one member; docs only for SDK members. */
  memberLine(symbol: ts.Symbol, withDoc = true): string {
    const decl = this.mainDeclaration(symbol);
    const doc = withDoc && decl !== undefined && this.isSdk(decl) ? compactDoc(this.docOf(symbol)) : "";
    return `- ${this.memberSignature(symbol)}${doc === "" ? "" : ` — ${doc}`}`;
  }

  /** A list of lines that stops before the help budget is spent. */
  private fit(head: readonly string[], lines: readonly string[]): string {
    const out = [...head];
    let used = out.join("\n").length;
    let shown = 0;
    for (const line of lines) {
      if (used + line.length + 1 > helpLimits.perDiagnostic - 40) break;
      out.push(line);
      used += line.length + 1;
      shown++;
    }
    if (shown < lines.length) out.push(`… and ${lines.length - shown} more`);
    return out.join("\n");
  }

  /** The doc of the type alias or interface a type comes from (for message-level rules). */
  private typeDoc(type: ts.Type): string {
    const t = this.checker.getNonNullableType(type);
    const symbol = t.aliasSymbol ?? t.getSymbol();
    if (symbol === undefined) return "";
    const decl = symbol.declarations?.find((d) => this.isSdk(d));
    return decl === undefined ? "" : compactDoc(jsDocText(decl), 160);
  }

  /** `ChatRequest`, `Role`, or the written-out type for anonymous ones. */
  private typeName(type: ts.Type): string {
    const t = this.checker.getNonNullableType(type);
    const symbolName = t.getSymbol()?.name;
    if (t.aliasSymbol !== undefined) return t.aliasSymbol.name;
    return symbolName !== undefined && !symbolName.startsWith("__") ? symbolName : this.typeText(t);
  }

  /** The fields of an object type, for an unknown, missing or wrongly typed key. */
  fieldsHelp(type: ts.Type, opts: { unknownKey?: string; missing?: readonly string[]; lead?: readonly string[] }): string {
    const props = this.propertiesOf(type);
    const name = this.typeName(type);
    const head: string[] = [...(opts.lead ?? [])];
    let ordered: ts.Symbol[];
    if (opts.unknownKey !== undefined) {
      ordered = rankByName(props, (p) => p.name, opts.unknownKey);
      const nearest = ordered[0];
      const close = nearest !== undefined && nameDistance(nearest.name, opts.unknownKey) <= Math.max(2, Math.floor(opts.unknownKey.length / 3));
      head.push(`\`${opts.unknownKey}\` is not a field of ${name}.${close && nearest !== undefined ? ` Did you mean \`${nearest.name}\`?` : ""}`);
    } else if (opts.missing !== undefined && opts.missing.length > 0) {
      const missing = new Set(opts.missing);
      const rank = (p: ts.Symbol) => (missing.has(p.name) ? 0 : this.isOptional(p) ? 2 : 1);
      ordered = [...props].sort((a, b) => rank(a) - rank(b));
      head.push(`${name} requires ${opts.missing.map((m) => `\`${m}\``).join(", ")}.`);
    } else {
      const rank = (p: ts.Symbol) => (this.isOptional(p) ? 1 : 0);
      ordered = [...props].sort((a, b) => rank(a) - rank(b));
    }
    const doc = this.typeDoc(type);
    if (doc !== "") head.push(`${name}: ${doc}`);
    head.push(`Fields of ${name} (\`?\` = optional):`);
    return this.fit(head, ordered.map((p) => this.memberLine(p)));
  }

  /** The values of a string-literal union (an enum), nearest to `given` first, with their docs. */
  private enumHelp(type: ts.Type, given: string | undefined): string | undefined {
    const t = this.checker.getNonNullableType(type);
    const parts = t.isUnion() ? t.types : [t];
    if (!parts.every((p) => p.isStringLiteral())) return undefined;
    const values = parts.map((p) => (p as ts.StringLiteralType).value);
    const alias = t.aliasSymbol?.name;
    const valueDocs = new Map<string, string>();
    const entry = this.ctx.docs.entries.find((e) => e.kind === "enum" && e.path === alias);
    for (const line of entry?.doc.split("\n") ?? []) {
      const m = /^- "([^"]+)": (.*)$/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) valueDocs.set(m[1], m[2]);
    }
    const ranked =
      given === undefined
        ? values
        : rankByName(values, (v) => v, given).sort((a, b) => {
            const suffix = (v: string) => (v.toUpperCase().endsWith(`_${given.toUpperCase()}`) ? 0 : 1);
            return suffix(a) - suffix(b);
          });
    const head = [
      `${alias ?? "The expected type"} is one of ${values.length} strings${given === undefined ? "" : `; "${given}" is not one of them`}.${given !== undefined && ranked[0] !== undefined ? ` Did you mean "${ranked[0]}"?` : ""}`,
      "Allowed values:",
    ];
    return this.fit(head, ranked.map((v) => `- "${v}"${valueDocs.has(v) ? ` — ${shorten(valueDocs.get(v) ?? "", 140)}` : ""}`));
  }

  /** Help for a value of the wrong type: enum values, the field's docs, or the object type's fields. */
  private expectedTypeHelp(expected: ts.Type, lead: readonly string[], given: ts.Expression | undefined): string {
    const literal = given !== undefined && (ts.isStringLiteral(given) || ts.isNoSubstitutionTemplateLiteral(given)) ? given.text : undefined;
    const enumText = this.enumHelp(expected, literal);
    if (enumText !== undefined) return [...lead, enumText].join("\n");
    const t = this.checker.getNonNullableType(expected);
    const element = this.checker.isArrayType(t) ? this.checker.getTypeArguments(t as ts.TypeReference)[0] : undefined;
    const objectLike = element ?? t;
    if (this.isSdkType(objectLike) && this.propertiesOf(objectLike).length > 0) {
      const enumOfElement = element === undefined ? undefined : this.enumHelp(element, undefined);
      if (enumOfElement !== undefined) return [...lead, enumOfElement].join("\n");
      return this.fieldsHelp(objectLike, {
        lead: [...lead, ...(element !== undefined ? [`Expected an array of ${this.typeName(element)}.`] : [])],
      });
    }
    return lead.join("\n");
  }

  /** The object literal property a node names, with its expected type and symbol. */
  private propertyContext(node: ts.Node): { symbol?: ts.Symbol; expected?: ts.Type; initializer?: ts.Expression; owner?: ts.Type } | undefined {
    const assignment = node.parent;
    if (!(ts.isPropertyAssignment(assignment) || ts.isShorthandPropertyAssignment(assignment)) || assignment.name !== node) {
      return undefined;
    }
    const owner = ts.isObjectLiteralExpression(assignment.parent) ? this.checker.getContextualType(assignment.parent) : undefined;
    const key = assignment.name.getText();
    const symbol = owner === undefined ? undefined : this.propertiesOf(owner).find((p) => p.name === key);
    const initializer = ts.isPropertyAssignment(assignment) ? assignment.initializer : assignment.name;
    const expected = ts.isPropertyAssignment(assignment)
      ? (this.checker.getContextualType(assignment.initializer) ?? (symbol ? this.checker.getTypeOfSymbol(symbol) : undefined))
      : symbol
        ? this.checker.getTypeOfSymbol(symbol)
        : undefined;
    return { ...(symbol ? { symbol } : {}), ...(expected ? { expected } : {}), initializer, ...(owner ? { owner } : {}) };
  }

  /** The call a node is the callee, an argument or the argument list of. */
  private enclosingCall(node: ts.Node): ts.CallExpression | undefined {
    for (let n: ts.Node | undefined = node; n !== undefined && !ts.isBlock(n); n = n.parent) {
      if (ts.isCallExpression(n)) return n;
    }
    return undefined;
  }

  /** The called method's signature and docs, and its request's fields. */
  callHelp(call: ts.CallExpression, lead: readonly string[], missing?: readonly string[]): string {
    const callee = ts.isPropertyAccessExpression(call.expression) ? call.expression.name : call.expression;
    const symbol = this.checker.getSymbolAtLocation(callee);
    const head = [...lead];
    if (symbol !== undefined) {
      const decl = this.mainDeclaration(symbol);
      head.push(`\`${call.expression.getText()}\`:`, `  ${this.memberSignature(symbol)}`);
      if (decl !== undefined && this.isSdk(decl)) head.push(`  ${compactDoc(this.docOf(symbol), 300)}`);
    }
    const signature = this.checker.getResolvedSignature(call);
    const param = signature?.getParameters()[0];
    if (param !== undefined) {
      const paramType = this.checker.getTypeOfSymbol(param);
      if (this.isSdkType(paramType) && this.propertiesOf(paramType).length > 0) {
        return this.fieldsHelp(paramType, { lead: head, ...(missing ? { missing } : {}) });
      }
    }
    return head.join("\n");
  }

  private unknownMemberHelp(receiver: ts.Expression, name: string): string {
    const type = this.checker.getNonNullableType(this.checker.getTypeAtLocation(receiver));
    const members = this.propertiesOf(type);
    const receiverText = shorten(receiver.getText(), 60);
    const sdk = this.isSdkType(type) || members.some((m) => (m.declarations ?? []).some((d) => this.isSdk(d)));
    const deeper: string[] = [];
    if (sdk) {
      for (const m of members) {
        for (const sub of this.propertiesOf(this.checker.getTypeOfSymbol(m))) {
          if (nameDistance(sub.name, name) <= Math.min(2, Math.floor(name.length / 3))) {
            deeper.push(`${receiverText}.${m.name}.${sub.name}`);
          }
        }
      }
    }
    const ranked = rankByName(members, (m) => m.name, name);
    const nearest = ranked[0];
    const close = nearest !== undefined && nameDistance(nearest.name, name) <= Math.max(2, Math.floor(name.length / 3));
    const suggestion =
      deeper.length > 0
        ? ` Did you mean ${deeper.slice(0, 3).map((d) => `\`${d}\``).join(" or ")}?`
        : close && nearest !== undefined
          ? ` Did you mean \`${receiverText}.${nearest.name}\`?`
          : "";
    const head = [`\`${name}\` is not a member of \`${receiverText}\`.${suggestion}`];
    if (!sdk) {
      head.push(`Members of ${this.typeName(type)}, nearest first:`);
      return this.fit(head, ranked.slice(0, 12).map((m) => this.memberLine(m, false)));
    }
    head.push(`Members of \`${receiverText}\`, nearest first:`);
    return this.fit(head, ranked.map((m) => this.memberLine(m)));
  }

  private unknownNameHelp(name: string): string {
    const services = this.ctx.docs.entries.filter((e) => e.kind === "service").map((e) => e.path.replace(/^gateway\./, ""));
    const head = [
      `\`${name}\` is not defined here. In scope: \`gateway\`${services.length > 0 ? ` (${services.join(", ")})` : ""}, \`SdkError\`, \`console\`, the SDK's types by name, and the ES2023 library (no DOM, no Node, no imports).`,
    ];
    const matches = searchDocs(this.ctx.docs, name, 4);
    if (matches.length === 0) return head.join("\n");
    head.push("Related SDK docs:");
    return this.fit(head, matches.map((e) => `- ${e.signature} — ${compactDoc(e.doc, 160)}`));
  }

  /** Help for one TypeScript diagnostic in the user file; "" only if nothing useful can be said. */
  explain(diagnostic: ts.Diagnostic): string {
    const start = diagnostic.start ?? 0;
    const node = nodeAt(this.ctx.sourceFile, start, diagnostic.length ?? 0);
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const chainCodes = new Set<number>();
    const collect = (chain: string | ts.DiagnosticMessageChain | undefined): void => {
      if (chain === undefined || typeof chain === "string") return;
      chainCodes.add(chain.code);
      for (const next of chain.next ?? []) collect(next);
    };
    collect(diagnostic.messageText);
    chainCodes.add(diagnostic.code);
    const missing = [
      ...[...message.matchAll(/Property '([^']+)' is missing in type/g)].map((m) => m[1] ?? ""),
      ...[...message.matchAll(/missing the following properties from type '[^']*': ([^\n]+?)(?:, and \d+ more)?\.?$/gm)].flatMap(
        (m) => (m[1] ?? "").split(", "),
      ),
    ].filter((m) => m !== "");

    switch (diagnostic.code) {
      case 2339:
      case 2551: {
        const parent = node.parent;
        if (ts.isIdentifier(node) && parent !== undefined && ts.isPropertyAccessExpression(parent) && parent.name === node) {
          return this.unknownMemberHelp(parent.expression, node.text);
        }
        if (parent !== undefined && ts.isBindingElement(parent) && ts.isObjectBindingPattern(parent.parent)) {
          const type = this.checker.getTypeAtLocation(parent.parent);
          return this.fieldsHelp(type, { unknownKey: (parent.propertyName ?? parent.name).getText() });
        }
        break;
      }
      case 2353:
      case 2561: {
        const assignment = node.parent;
        if (assignment !== undefined && ts.isObjectLiteralElementLike(assignment) && ts.isObjectLiteralExpression(assignment.parent)) {
          const expected = this.checker.getContextualType(assignment.parent);
          if (expected !== undefined) return this.fieldsHelp(expected, { unknownKey: node.getText() });
        }
        break;
      }
      case 2304:
      case 2552:
      case 2580:
      case 2582:
      case 2583:
      case 2584:
      case 2591:
      case 2812:
      case 2867:
      case 2868:
        return this.unknownNameHelp(ts.isIdentifier(node) ? node.text : node.getText());
      case 18046:
      case 2571: {
        const name = node.getText();
        const symbol = ts.isIdentifier(node) ? this.checker.getSymbolAtLocation(node) : undefined;
        const isCatch = symbol?.declarations?.some((d) => ts.isVariableDeclaration(d) && ts.isCatchClause(d.parent));
        return isCatch
          ? `\`${name}\` is a caught value of type unknown. Narrow it first: \`if (${name} instanceof SdkError) { ${name}.code; ${name}.message }\` (gateway calls reject with SdkError; code is "invalid_argument", "not_found", "unavailable", …), or \`${name} instanceof Error\`.`
          : `\`${name}\` has type unknown. Narrow it before use (\`typeof ${name} === "string"\`, \`Array.isArray(${name})\`, \`${name} instanceof SdkError\`) or give it a type.`;
      }
      case 2532:
      case 18048:
      case 2531:
      case 18047:
      case 18049:
      case 2722: {
        const expression = ts.isExpression(node) ? node : undefined;
        const symbol = expression === undefined ? undefined : this.checker.getSymbolAtLocation(ts.isPropertyAccessExpression(expression) ? expression.name : expression);
        const field = symbol !== undefined && (symbol.declarations ?? []).some((d) => this.isSdk(d)) ? `\n${this.memberLine(symbol)}` : "";
        return `\`${shorten(node.getText(), 60)}\` may be absent (an optional field, or unset in the response). Check it first (\`if (x) …\`), or use \`?.\` and \`??\`: \`resp.message?.content ?? ""\`.${field}`;
      }
      case 7006:
      case 7031:
      case 7005:
      case 7034:
      case 7053:
        return "Give it a type: SDK types can be used by name, for example `(m: Model) => m.id` or `const events: ChatStreamResponse[] = []`. Index with known keys, or use a `Map`.";
      case 1308:
      case 1378:
      case 1375:
      case 2794:
        return "`await` works directly in the body and inside `async` functions. In callbacks use `async`, and await them together: `await Promise.all(items.map(async (x) => …))`.";
      case 2307:
      case 2792:
      case 1232:
        return "Nothing can be imported: `gateway`, `SdkError`, `console` and the SDK's types are already in scope.";
      case 2554:
      case 2555:
      case 2769:
      case 2349: {
        const call = this.enclosingCall(node);
        if (call !== undefined) return this.callHelp(call, []);
        break;
      }
      default:
        break;
    }

    if (chainCodes.has(2741) || chainCodes.has(2739) || chainCodes.has(2740) || missing.length > 0) {
      const call = ts.isExpression(node) && ts.isCallExpression(node.parent) && node.parent.arguments.includes(node) ? node.parent : undefined;
      if (call !== undefined) return this.callHelp(call, [], missing);
      const property = this.propertyContext(node);
      const expected = property?.expected ?? this.expectedTypeAt(node);
      if (expected !== undefined) {
        const lead = property?.symbol !== undefined ? [this.memberLine(property.symbol)] : [];
        return this.fieldsHelp(expected, { missing, lead });
      }
    }

    if (diagnostic.code === 2322 || diagnostic.code === 2820 || diagnostic.code === 2345 || diagnostic.code === 2559) {
      const property = this.propertyContext(node);
      const conflict =
        property?.expected !== undefined &&
        (property.expected.flags & (ts.TypeFlags.Never | ts.TypeFlags.Undefined)) !== 0 &&
        property.owner?.isUnion() === true;
      if (conflict && property?.owner !== undefined) {
        // `?: never` members: a second field of a oneof.
        return this.fieldsHelp(property.owner, {
          lead: [`\`${node.getText()}\` cannot be set together with another field of the same oneof; set only one of them.`],
        });
      }
      if (property?.expected !== undefined) {
        const lead = property.symbol !== undefined ? [`\`${property.symbol.name}\` expects ${this.typeName(property.expected)}:`, this.memberLine(property.symbol)] : [];
        return this.expectedTypeHelp(property.expected, lead, property.initializer);
      }
      if (ts.isExpression(node) && ts.isCallExpression(node.parent) && node.parent.arguments.includes(node)) {
        return this.callHelp(node.parent, []);
      }
      const expected = this.expectedTypeAt(node);
      if (expected !== undefined) {
        return this.expectedTypeHelp(expected, [`Expected ${this.typeName(expected)}.`], ts.isExpression(node) ? node : undefined);
      }
    }

    if (diagnostic.category === ts.DiagnosticCategory.Error && diagnostic.code < 2000) {
      return "Syntax error: the code must be the body of an async function (statements, then `return value`), in TypeScript.";
    }
    const symbol = ts.isIdentifier(node) ? this.checker.getSymbolAtLocation(node) : undefined;
    if (symbol !== undefined && (symbol.declarations ?? []).some((d) => this.isSdk(d))) return this.memberLine(symbol);
    return "";
  }

  /** The type a node is expected to have: its declared type, or its contextual type. */
  private expectedTypeAt(node: ts.Node): ts.Type | undefined {
    const parent = node.parent;
    if (parent !== undefined && ts.isVariableDeclaration(parent) && parent.name === node && parent.type !== undefined) {
      return this.checker.getTypeFromTypeNode(parent.type);
    }
    if (ts.isExpression(node)) return this.checker.getContextualType(node);
    return undefined;
  }
}

/**
 * Creates the explainer for diagnostics of one checked program: returns the
 * help for a diagnostic of the user file, or "" when nothing useful can be said.
 */
export function createDiagnosticExplainer(ctx: HelpContext): (diagnostic: ts.Diagnostic) => string {
  const writer = new HelpWriter(ctx);
  return (diagnostic) => writer.explain(diagnostic);
}
