/**
 * Turns Protobuf service descriptors into the sandbox SDK: one TypeScript
 * declaration file with a global `gateway` whose methods take and return
 * proto-JSON objects, documented from the proto comments and the
 * protovalidate rules, plus a docs index for search and help texts.
 */
import {
  type DescEnum,
  type DescEnumValue,
  type DescField,
  type DescFile,
  type DescMessage,
  type DescMethod,
  type DescOneof,
  type DescService,
} from "@bufbuild/protobuf";
import { createValidator, type Validator } from "@bufbuild/protovalidate";
import type { DocsEntry, DocsIndex } from "../docs/index.js";
import { type SandboxService, type ServiceSelection, selectServices } from "./select-services.js";
import { capitalize, flat, jsDoc, needsParens, paragraphs, propertyKey, rulesSentence } from "./doc-text.js";
import { formatNote, scalarJsonType, wellKnownJson } from "./json-shapes.js";
import { sourceComment } from "./source-comments.js";
import { assignTypeNames, type Form, type TypeNames } from "./type-names.js";
import {
  describeFieldRules,
  describeMessageRules,
  findRequiredMembers,
  type RequiredMembers,
  withJsonNames,
} from "./validation-rules.js";

/** Options of {@link generateSandboxSurface}. */
export interface SandboxSurfaceOptions extends ServiceSelection {
  /** Who generated the output, for the first line of the declarations. */
  readonly generatedBy?: string | undefined;
}

/** The generated SDK surface. */
export interface SandboxSurface {
  /** The declarations (a global script, not a module) the model's code is checked against. */
  readonly declarations: string;
  /** One docs entry per service, method, message, field and enum. */
  readonly docs: DocsIndex;
  /** The exposed services and methods, for the code that executes calls. */
  readonly services: readonly SandboxService[];
}

/**
 * How sandbox responses must be written to JSON so that they match the
 * generated types: fields with implicit presence (plain scalars, enums,
 * lists, maps) are always present; message, `optional` and oneof fields only
 * when set. Pass these to `toJson` in the code that executes sandbox calls.
 */
export const sandboxJsonWriteOptions = { alwaysEmitImplicit: true } as const;

interface Emitted {
  lines: string[];
  entries: DocsEntry[];
}

class SurfaceBuilder {
  private readonly required = new Map<DescMessage, RequiredMembers>();
  private readonly validator: Validator = createValidator();

  constructor(
    private readonly names: TypeNames,
    /** JSON names of the emitted fields by proto name, where all fields of that name agree. */
    private readonly jsonNames: ReadonlyMap<string, string>,
  ) {}

  requiredOf(message: DescMessage): RequiredMembers {
    let r = this.required.get(message);
    if (r === undefined) {
      r = findRequiredMembers(message, this.validator);
      this.required.set(message, r);
    }
    return r;
  }

  /** Whether a request of this type may be left out entirely. */
  requestIsOptional(message: DescMessage): boolean {
    if (wellKnownJson(message, "request") !== undefined) return message.typeName === "google.protobuf.Empty";
    const r = this.requiredOf(message);
    return r.fields.size === 0 && r.oneofs.size === 0;
  }

  /** The TypeScript type of a message used in the given form. */
  messageType(message: DescMessage, form: Form): string {
    return wellKnownJson(message, form) ?? this.names.type(message, form);
  }

  enumType(desc: DescEnum): string {
    return desc.typeName === "google.protobuf.NullValue" ? "null" : this.names.type(desc, "response");
  }

  fieldType(field: DescField, form: Form): string {
    switch (field.fieldKind) {
      case "scalar":
        return scalarJsonType(field.scalar, form);
      case "enum":
        return this.enumType(field.enum);
      case "message":
        return this.messageType(field.message, form);
      case "list": {
        const item =
          field.listKind === "scalar"
            ? scalarJsonType(field.scalar, form)
            : field.listKind === "enum"
              ? this.enumType(field.enum)
              : this.messageType(field.message, form);
        return needsParens(item) ? `(${item})[]` : `${item}[]`;
      }
      case "map": {
        const value =
          field.mapKind === "scalar"
            ? scalarJsonType(field.scalar, form)
            : field.mapKind === "enum"
              ? this.enumType(field.enum)
              : this.messageType(field.message, form);
        return `{ [key: string]: ${value} }`;
      }
    }
  }

  /** Whether the property is marked optional (`?`) in the given form. */
  isOptional(field: DescField, form: Form): boolean {
    if (form === "request") return !this.requiredOf(field.parent).fields.has(field);
    // Responses are written with implicit-presence fields always present.
    if (field.fieldKind === "list" || field.fieldKind === "map") return false;
    return field.presence !== 2; // FeatureSet_FieldPresence.IMPLICIT
  }

  fieldDoc(field: DescField, form: Form): string {
    const oneof = field.oneof;
    const required = this.requiredOf(field.parent);
    const oneofNote =
      oneof === undefined
        ? undefined
        : `Part of oneof \`${oneof.name}\`: ${oneofSummary(oneof, form === "request" && required.oneofs.has(oneof))}.`;
    const phrases = form === "request" ? describeFieldRules(field) : [];
    if (form === "request" && required.fields.has(field) && !phrases.some((p) => p.includes("required"))) {
      phrases.unshift("required");
    }
    return paragraphs(this.comment(field), formatNote(field, form), oneofNote, rulesSentence(phrases));
  }

  /**
   * A proto comment with field names in JSON spelling: sibling fields
   * (`top_p` in Sampling) and back-quoted names of any emitted field.
   */
  comment(desc: DescMessage | DescField | DescEnum | DescEnumValue | DescService | DescMethod): string {
    let text = sourceComment(desc);
    const message = desc.kind === "field" ? desc.parent : desc.kind === "message" ? desc : undefined;
    if (message !== undefined) text = withJsonNames(text, message);
    return text.replace(/`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`/g, (whole, name: string) => {
      const json = this.jsonNames.get(name);
      return json === undefined ? whole : `\`${json}\``;
    });
  }

  propertyLines(field: DescField, form: Form, indent: string): string[] {
    return [
      ...jsDoc(this.fieldDoc(field, form), indent),
      `${indent}${propertyKey(field.jsonName)}${this.isOptional(field, form) ? "?" : ""}: ${this.fieldType(field, form)};`,
    ];
  }

  /** `| { chosen: T; other?: never; … }` for each member, plus an all-absent variant unless required. */
  oneofVariants(oneof: DescOneof, form: Form, required: boolean): string[] {
    const variant = (chosen: DescField | undefined): string[] => [
      "  | {",
      ...oneof.fields.flatMap((f) =>
        f === chosen
          ? [...jsDoc(this.fieldDoc(f, form), "      "), `      ${propertyKey(f.jsonName)}: ${this.fieldType(f, form)};`]
          : [`      ${propertyKey(f.jsonName)}?: never;`],
      ),
      "    }",
    ];
    return [...oneof.fields.flatMap((f) => variant(f)), ...(required ? [] : variant(undefined))];
  }

  emitMessage(message: DescMessage, form: Form): Emitted {
    const name = this.names.type(message, form);
    const plain = message.fields.filter((f) => f.oneof === undefined);
    const oneofs = message.oneofs;
    const requiredOneofs = form === "request" ? this.requiredOf(message).oneofs : new Set<DescOneof>();
    const responseName = this.names.type(message, "response");
    const doc = paragraphs(
      this.comment(message),
      form === "request" && name !== responseName ? `The request form of ${responseName}.` : undefined,
      ...oneofs.map((o) => `${capitalize(oneofSummary(o, requiredOneofs.has(o)))}.`),
      rulesSentence(form === "request" ? describeMessageRules(message) : []),
    );
    const lines: string[] = [...jsDoc(doc, "")];
    const compactFields = plain.map(
      (f) => `${propertyKey(f.jsonName)}${this.isOptional(f, form) ? "?" : ""}: ${this.fieldType(f, form)}`,
    );
    const compactOneofs = oneofs.map((o) =>
      o.fields.map((f) => `{ ${propertyKey(f.jsonName)}: ${this.fieldType(f, form)} }`).join(" | "),
    );
    let signature: string;
    if (oneofs.length === 0) {
      lines.push(`interface ${name} {`);
      if (plain.length === 0) lines.push("  [key: string]: never;");
      for (const f of plain) lines.push(...this.propertyLines(f, form, "  "));
      lines.push("}");
      signature = `interface ${name} { ${compactFields.join("; ")} }`.replace("{  }", "{}");
    } else {
      // An object type for the plain fields, intersected with one union per oneof.
      const parts: string[][] = [];
      if (plain.length > 0) parts.push(["  {", ...plain.flatMap((f) => this.propertyLines(f, form, "    ")), "  }"]);
      const alone = plain.length === 0 && oneofs.length === 1;
      for (const o of oneofs) {
        const variants = this.oneofVariants(o, form, requiredOneofs.has(o));
        parts.push(alone ? variants : ["  (", ...variants.map((l) => `  ${l}`), "  )"]);
      }
      lines.push(`type ${name} =`);
      parts.forEach((part, i) => {
        lines.push(...(i === 0 ? part : [`  & ${part[0]?.trimStart()}`, ...part.slice(1)]));
      });
      lines[lines.length - 1] += ";";
      signature = `type ${name} = ${[
        ...(plain.length > 0 ? [`{ ${compactFields.join("; ")} }`] : []),
        ...compactOneofs.map((c) => (alone ? c : `(${c})`)),
      ].join(" & ")}`;
    }
    const entries: DocsEntry[] = [
      { path: name, kind: "message", protoName: message.typeName, signature, doc: flat(doc) },
      ...message.fields.map(
        (f): DocsEntry => ({
          path: `${name}.${f.jsonName}`,
          kind: "field",
          protoName: `${message.typeName}.${f.name}`,
          signature: `${propertyKey(f.jsonName)}${f.oneof === undefined && this.isOptional(f, form) ? "?" : ""}: ${this.fieldType(f, form)}`,
          doc: flat(this.fieldDoc(f, form)),
        }),
      ),
    ];
    return { lines, entries };
  }

  emitEnum(desc: DescEnum): Emitted {
    const name = this.names.type(desc, "response");
    const valueDocs = desc.values.map((v) => {
      const comment = flat(this.comment(v));
      return `- "${v.name}"${comment === "" ? "" : `: ${comment}`}`;
    });
    const doc = paragraphs(this.comment(desc), valueDocs.join("\n"));
    const lines = [...jsDoc(doc, ""), `type ${name} =`, ...desc.values.map((v, i) => `  | "${v.name}"${i === desc.values.length - 1 ? ";" : ""}`)];
    const signature = `type ${name} = ${desc.values.map((v) => `"${v.name}"`).join(" | ")}`;
    return { lines, entries: [{ path: name, kind: "enum", protoName: desc.typeName, signature, doc: flat(this.comment(desc)) + (valueDocs.length > 0 ? `\n\n${valueDocs.join("\n")}` : "") }] };
  }
}

function oneofSummary(oneof: DescOneof, required: boolean): string {
  const names = oneof.fields.map((f) => `\`${f.jsonName}\``).join(", ");
  return required ? `exactly one of ${names} must be set` : `at most one of ${names} is set`;
}

/** Collects the messages and enums reachable from the exposed methods, depth first. */
function reachableTypes(services: readonly SandboxService[]): { desc: DescMessage | DescEnum; form: Form }[] {
  const out: { desc: DescMessage | DescEnum; form: Form }[] = [];
  const seen = new Set<string>();
  const visitEnum = (e: DescEnum) => {
    if (e.typeName === "google.protobuf.NullValue" || seen.has(`enum:${e.typeName}`)) return;
    seen.add(`enum:${e.typeName}`);
    out.push({ desc: e, form: "response" });
  };
  const visit = (m: DescMessage, form: Form) => {
    const key = `${form}:${m.typeName}`;
    if (wellKnownJson(m, form) !== undefined || seen.has(key)) return;
    seen.add(key);
    out.push({ desc: m, form });
    for (const f of m.fields) {
      if (f.message !== undefined) visit(f.message, form);
      if (f.enum !== undefined) visitEnum(f.enum);
    }
  };
  for (const s of services) {
    for (const m of s.methods) {
      visit(m.desc.input, "request");
      visit(m.desc.output, "response");
    }
  }
  return out;
}

/** Proto field name to JSON name over all emitted messages, leaving out names spelled two ways. */
function emittedJsonNames(types: readonly { desc: DescMessage | DescEnum }[]): Map<string, string> {
  const out = new Map<string, string>();
  const conflicting = new Set<string>();
  for (const { desc } of types) {
    if (desc.kind !== "message") continue;
    for (const f of desc.fields) {
      const known = out.get(f.name);
      if (known !== undefined && known !== f.jsonName) conflicting.add(f.name);
      out.set(f.name, f.jsonName);
    }
  }
  for (const name of conflicting) out.delete(name);
  return out;
}

const errorCodes = [
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

function preludeLines(generatedBy: string, sources: readonly string[]): string[] {
  return [
    `// @generated by ${generatedBy}${sources.length > 0 ? ` from ${sources.join(", ")}` : ""}. Do not edit.`,
    ...jsDoc(
      [
        "The typed SDK of the protogate code sandbox.",
        "",
        "Your code is the body of an async function: call services with",
        "`await gateway.<service>.<method>({ ... })` and end with `return value`.",
        "Requests and responses are plain objects in the Protobuf JSON form:",
        "camelCase field names, enums as their value names (strings), 64-bit",
        "integers as decimal strings, bytes as base64, timestamps and durations",
        "as strings. In responses, message, `optional` and oneof fields are",
        "absent when unset; every other field is always present. A failed call",
        "rejects with an SdkError. Only `gateway`, `SdkError`, `console` and",
        "the ES2023 library are available; no imports, no network, no files.",
      ].join("\n"),
      "",
    ),
    "",
    ...jsDoc("Any JSON value.", ""),
    "type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };",
    "",
    ...jsDoc("The status code of a failed call, in Connect's snake_case spelling.", ""),
    "type SdkErrorCode =",
    ...errorCodes.map((c, i) => `  | "${c}"${i === errorCodes.length - 1 ? ";" : ""}`),
    "",
    ...jsDoc(
      [
        "What every `gateway` call rejects with when the call fails: `code` says",
        'why (for example "invalid_argument" when a request breaks a rule,',
        '"not_found" for an unknown model, "unavailable" when a backend is down)',
        "and `message` says what was wrong.",
        "",
        "@example",
        "try {",
        '  return await gateway.models.getModel({ model: "llama3" });',
        "} catch (e) {",
        '  if (e instanceof SdkError && e.code === "not_found") return null;',
        "  throw e;",
        "}",
      ].join("\n"),
      "",
    ),
    "declare class SdkError extends Error {",
    "  constructor(code: SdkErrorCode, message: string);",
    '  /** Why the call failed, such as "invalid_argument" or "not_found". */',
    "  readonly code: SdkErrorCode;",
    "}",
  ];
}

/**
 * Generates the sandbox SDK surface for the services of `files`: the
 * declarations the model's code is type-checked against, the docs index, and
 * the mapping from `gateway.<service>.<method>` to RPC descriptors.
 * Messages and enums are taken from the descriptors the methods reference,
 * so `files` only needs the files that define the services. Throws on a
 * selection error (see {@link selectServices}).
 *
 * @example
 * const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, image));
 * const surface = generateSandboxSurface([...registry.files], {
 *   names: { "protogate.v1.ModelService": "models" },
 * });
 * const checker = createTypeScriptChecker({ declarations: surface.declarations, docs: surface.docs });
 */
export function generateSandboxSurface(
  files: readonly DescFile[],
  options: SandboxSurfaceOptions = {},
): SandboxSurface {
  const services = selectServices(files, options);
  const types = reachableTypes(services);
  const names = assignTypeNames(
    services.map((s) => s.desc),
    types,
  );
  const builder = new SurfaceBuilder(names, emittedJsonNames(types));
  const sources = [...new Set(services.map((s) => s.desc.file.name + ".proto"))];
  const lines = preludeLines(options.generatedBy ?? "generateSandboxSurface", sources);
  const entries: DocsEntry[] = [];

  lines.push("");
  lines.push(
    ...jsDoc(
      "The gateway's services, one property per service. Each method takes one request object and resolves to the response object.",
      "",
    ),
  );
  lines.push("declare const gateway: {");
  for (const s of services) {
    const doc = builder.comment(s.desc);
    lines.push(...jsDoc(doc, "  "), `  readonly ${s.property}: ${names.service(s.desc)};`);
  }
  lines.push("};");

  for (const s of services) {
    const serviceName = names.service(s.desc);
    const serviceDoc = paragraphs(builder.comment(s.desc), `Available as \`gateway.${s.property}\` (${s.desc.typeName}).`);
    entries.push({
      path: `gateway.${s.property}`,
      kind: "service",
      protoName: s.desc.typeName,
      signature: `gateway.${s.property}: ${serviceName} { ${s.methods.map((m) => m.name).join(", ")} }`,
      doc: flat(serviceDoc),
    });
    lines.push("", ...jsDoc(serviceDoc, ""), `interface ${serviceName} {`);
    s.methods.forEach((m, i) => {
      const input = builder.messageType(m.desc.input, "request");
      const output = builder.messageType(m.desc.output, "response");
      const result = m.kind === "unary" ? output : `${needsParens(output) ? `(${output})` : output}[]`;
      const param = `request${builder.requestIsOptional(m.desc.input) ? "?" : ""}: ${input}`;
      const callDoc =
        m.kind === "unary"
          ? `Resolves to a ${output}; rejects with an SdkError when the call fails.`
          : `Server-streaming: resolves once the stream has ended, to all of its ${output} messages in order. If the stream fails, the call rejects with an SdkError.`;
      const doc = paragraphs(builder.comment(m.desc), callDoc);
      if (i > 0) lines.push("");
      lines.push(...jsDoc(doc, "  "), `  ${m.name}(${param}): Promise<${result}>;`);
      entries.push({
        path: `gateway.${s.property}.${m.name}`,
        kind: "method",
        protoName: `${s.desc.typeName}.${m.desc.name}`,
        signature: `gateway.${s.property}.${m.name}(${param}): Promise<${result}>`,
        doc: flat(doc),
      });
    });
    lines.push("}");
  }

  for (const t of types) {
    const emitted =
      t.desc.kind === "message" ? builder.emitMessage(t.desc, t.form) : builder.emitEnum(t.desc);
    lines.push("", ...emitted.lines);
    entries.push(...emitted.entries);
  }

  return {
    declarations: `${lines.join("\n")}\n`,
    docs: { version: 1, entries },
    services,
  };
}
