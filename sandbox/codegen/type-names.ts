/**
 * Names of the generated declarations: short proto names where they are
 * unambiguous, package-qualified names where two types share a short name or
 * a name is taken by the ES library, the DOM (the project type-checks gen/
 * with it) or the SDK itself.
 */
import type { DescEnum, DescMessage, DescService } from "@bufbuild/protobuf";

/** Names the generated declarations must not take. */
const reservedTypeNames: ReadonlySet<string> = new Set([
  // The SDK's own declarations.
  "gateway", "SdkError", "SdkErrorCode", "JsonValue", "console",
  // ES library values and types.
  "AggregateError", "Array", "ArrayBuffer", "ArrayBufferLike", "ArrayBufferView", "ArrayLike",
  "AsyncGenerator", "AsyncIterable", "AsyncIterableIterator", "AsyncIterator", "Atomics", "Awaited",
  "BigInt", "BigInt64Array", "BigUint64Array", "Boolean", "Capitalize", "ClassDecorator",
  "ConcatArray", "ConstructorParameters", "DataView", "Date", "DateConstructor", "Error",
  "ErrorConstructor", "EvalError", "Exclude", "Extract", "FinalizationRegistry", "Float32Array",
  "Float64Array", "Function", "Generator", "GeneratorFunction", "Infinity", "InstanceType",
  "Int16Array", "Int32Array", "Int8Array", "Intl", "Iterable", "IterableIterator", "Iterator",
  "IteratorResult", "JSON", "Lowercase", "Map", "Math", "NaN", "NoInfer", "NonNullable", "Number",
  "Object", "Omit", "OmitThisParameter", "Parameters", "Partial", "Pick", "Promise", "PromiseLike",
  "PromiseConstructor", "PropertyDescriptor", "PropertyKey", "Proxy", "RangeError", "Readonly",
  "ReadonlyArray", "ReadonlyMap", "ReadonlySet", "Record", "ReferenceError", "Reflect", "RegExp",
  "Required", "ReturnType", "Set", "SharedArrayBuffer", "String", "Symbol", "SyntaxError",
  "TemplateStringsArray", "ThisParameterType", "ThisType", "TypeError", "URIError", "Uint16Array",
  "Uint32Array", "Uint8Array", "Uint8ClampedArray", "Uncapitalize", "Uppercase", "WeakKey",
  "WeakMap", "WeakRef", "WeakSet", "globalThis", "undefined",
  // Common DOM and Node globals.
  "AbortController", "AbortSignal", "Attr", "Blob", "Body", "BroadcastChannel", "Buffer", "Cache",
  "Clipboard", "Comment", "Credential", "Crypto", "CryptoKey", "CustomEvent", "Document", "Element",
  "Event", "EventSource", "EventTarget", "File", "FileList", "FileReader", "FormData", "Headers",
  "History", "Image", "Location", "Lock", "MessageChannel", "MessageEvent", "MessagePort", "MimeType",
  "Navigator", "Node", "NodeList", "Notification", "Option", "Performance", "Permissions", "Plugin",
  "Range", "ReadableStream", "Report", "Request", "RequestInit", "Response", "ResponseInit", "Screen",
  "Selection", "Storage", "Text", "TextDecoder", "TextEncoder", "TransformStream", "URL",
  "URLSearchParams", "WebSocket", "Window", "Worker", "WritableStream", "XMLHttpRequest", "process",
  "global", "module", "require", "exports",
]);

/** Whether a request/response form of a message is meant. */
export type Form = "request" | "response";

function pascal(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p.length > 0)
    .map((p) => p[0]?.toUpperCase() + p.slice(1))
    .join("");
}

/** `Outer.Inner` in package `a.b` becomes `Outer_Inner`. */
function shortName(desc: DescMessage | DescEnum | DescService): string {
  const pkg = desc.file.proto.package;
  const local = pkg === "" ? desc.typeName : desc.typeName.slice(pkg.length + 1);
  return local.replace(/\./g, "_");
}

/** `a.b.Outer.Inner` becomes `ABOuter_Inner`. */
function qualifiedName(desc: DescMessage | DescEnum | DescService): string {
  return pascal(desc.file.proto.package) + shortName(desc);
}

/** Assigns every declaration its name. */
export interface TypeNames {
  /** The service interface's name. */
  service(desc: DescService): string;
  /** The name of a message in a form, or of an enum. */
  type(desc: DescMessage | DescEnum, form: Form): string;
}

/**
 * Picks names for services and types. A message needed in both forms keeps
 * its name for the response form; its request form gets an `Input` suffix.
 */
export function assignTypeNames(
  services: readonly DescService[],
  types: readonly { desc: DescMessage | DescEnum; form: Form }[],
): TypeNames {
  const descs = [...services, ...new Set(types.map((t) => t.desc))];
  const byShort = new Map<string, Set<string>>();
  for (const d of descs) {
    const set = byShort.get(shortName(d)) ?? new Set<string>();
    set.add(d.typeName);
    byShort.set(shortName(d), set);
  }
  const taken = new Set<string>();
  const unique = (wanted: string): string => {
    let name = wanted;
    for (let n = 2; taken.has(name) || reservedTypeNames.has(name); n++) name = `${wanted}${n}`;
    taken.add(name);
    return name;
  };
  const base = new Map<string, string>();
  for (const d of descs) {
    const short = shortName(d);
    const ambiguous = (byShort.get(short)?.size ?? 0) > 1 || reservedTypeNames.has(short);
    base.set(d.typeName, unique(ambiguous ? qualifiedName(d) : short));
  }
  const forms = new Map<string, Set<Form>>();
  for (const t of types) {
    const set = forms.get(t.desc.typeName) ?? new Set<Form>();
    set.add(t.form);
    forms.set(t.desc.typeName, set);
  }
  const inputNames = new Map<string, string>();
  for (const [typeName, set] of forms) {
    if (set.size > 1) inputNames.set(typeName, unique(`${base.get(typeName) ?? typeName}Input`));
  }
  return {
    service: (desc) => base.get(desc.typeName) ?? shortName(desc),
    type: (desc, form) =>
      (desc.kind === "message" && form === "request" ? inputNames.get(desc.typeName) : undefined) ??
      base.get(desc.typeName) ??
      shortName(desc),
  };
}
