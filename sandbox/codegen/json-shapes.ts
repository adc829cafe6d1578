/**
 * The proto JSON form of Protobuf values as TypeScript types: scalars,
 * 64-bit integers (strings in responses, strings or numbers in requests) and
 * the well-known types, plus a note on formats the type alone does not say.
 */
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import type { Form } from "./type-names.js";

const int64Scalars: ReadonlySet<ScalarType> = new Set([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

/** Well-known types with a special JSON form, and that form (a wrapper's is its scalar's). */
export function wellKnownJson(message: DescMessage, form: Form): string | undefined {
  if (isWrapperDesc(message)) return scalarJsonType(message.fields[0].scalar, form);
  switch (message.typeName) {
    case "google.protobuf.Struct":
      return "{ [key: string]: JsonValue }";
    case "google.protobuf.Value":
      return "JsonValue";
    case "google.protobuf.ListValue":
      return "JsonValue[]";
    case "google.protobuf.Timestamp":
    case "google.protobuf.Duration":
    case "google.protobuf.FieldMask":
      return "string";
    case "google.protobuf.Any":
      return '{ "@type": string; [key: string]: JsonValue }';
    case "google.protobuf.Empty":
      return "{ [key: string]: never }";
    default:
      return undefined;
  }
}

/** A sentence on the JSON format of a value, where the type alone does not say it. */
export function formatNote(field: DescField, form: Form): string | undefined {
  const message = field.message?.typeName;
  const scalar = field.scalar;
  const each = field.fieldKind === "map" ? "Values: a" : field.fieldKind === "list" ? "Items: a" : "A";
  const int64 =
    form === "request"
      ? "64-bit integer: a number, or a decimal string for values beyond 2^53."
      : "64-bit integer, written as a decimal string.";
  if (message === "google.protobuf.Timestamp") return 'An RFC 3339 timestamp, such as "2024-05-01T12:00:00Z".';
  if (message === "google.protobuf.Duration") return 'A duration in seconds with an "s" suffix, such as "1.5s".';
  if (message === "google.protobuf.FieldMask") return "Comma-separated field paths in camelCase.";
  if (message === "google.protobuf.Any") return 'A JSON object whose "@type" names the message type.';
  if (message === "google.protobuf.BytesValue") return "Base64-encoded bytes.";
  if (message === "google.protobuf.Int64Value" || message === "google.protobuf.UInt64Value") return `A ${int64}`;
  const notes: string[] = [];
  if (field.fieldKind === "map" && field.mapKey !== ScalarType.STRING) {
    notes.push(
      field.mapKey === ScalarType.BOOL
        ? 'Keys are "true" or "false".'
        : "Keys are integers written as decimal strings.",
    );
  }
  if (scalar !== undefined && int64Scalars.has(scalar)) notes.push(`${each} ${int64}`);
  if (scalar === ScalarType.BYTES) {
    notes.push(field.fieldKind === "scalar" ? "Base64-encoded bytes." : `${each.slice(0, -3)}: base64-encoded bytes.`);
  }
  return notes.length > 0 ? notes.join(" ") : undefined;
}

/** The TypeScript type of a scalar in proto JSON. */
export function scalarJsonType(scalar: ScalarType, form: Form): string {
  if (int64Scalars.has(scalar)) return form === "request" ? "string | number" : "string";
  switch (scalar) {
    case ScalarType.BOOL:
      return "boolean";
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return "string";
    default:
      return "number";
  }
}
