/**
 * protovalidate rules in words, for the SDK docs ("length 1–256", "≥ 0 and
 * ≤ 2", "one of ROLE_SYSTEM, …; required (not ROLE_UNSPECIFIED)"), and which
 * request fields must be set because their zero value breaks a rule.
 */
import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescOneof,
  getOption,
  hasOption,
  isFieldSet,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import { type Duration, type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type { Validator } from "@bufbuild/protovalidate";
import {
  type FieldRules,
  field as fieldRulesExtension,
  file_buf_validate_validate,
  Ignore,
  KnownRegex,
  message as messageRulesExtension,
  oneof as oneofRulesExtension,
  type Rule,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

/** What a rule applies to, so enum numbers can be named and units chosen. */
interface RuleTarget {
  readonly enum?: DescEnum | undefined;
  readonly scalar?: ScalarType | undefined;
}

const ruleSchemas = new Map<string, DescMessage>(
  file_buf_validate_validate.messages.map((m) => [m.typeName, m]),
);

/** Whether a rules message (e.g. StringRules) has the named field set. */
function has(rules: Message, localName: string): boolean {
  const field = ruleSchemas.get(rules.$typeName)?.field[localName];
  return field !== undefined && isFieldSet(rules, field);
}

type RuleValue = number | bigint | boolean | string | Uint8Array | Duration | Timestamp;

function isDuration(v: RuleValue): v is Duration {
  return typeof v === "object" && !(v instanceof Uint8Array) && v.$typeName === "google.protobuf.Duration";
}

function isTimestamp(v: RuleValue): v is Timestamp {
  return typeof v === "object" && !(v instanceof Uint8Array) && v.$typeName === "google.protobuf.Timestamp";
}

function formatDuration(d: Duration): string {
  const nanos = Math.abs(d.nanos);
  const sign = d.seconds < 0n || d.nanos < 0 ? "-" : "";
  const seconds = d.seconds < 0n ? -d.seconds : d.seconds;
  const fraction = nanos === 0 ? "" : `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
  return `${sign}${seconds}${fraction}s`;
}

function formatValue(v: RuleValue, target: RuleTarget): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `base64 ${JSON.stringify(Buffer.from(v).toString("base64"))}`;
  if (typeof v === "number" && target.enum !== undefined) {
    return target.enum.values.find((e) => e.number === v)?.name ?? String(v);
  }
  if (typeof v === "object") {
    if (isDuration(v)) return JSON.stringify(formatDuration(v));
    if (isTimestamp(v)) return JSON.stringify(timestampDate(v).toISOString());
  }
  return String(v);
}

function magnitude(v: RuleValue): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "object" && !(v instanceof Uint8Array)) {
    if (isDuration(v)) return Number(v.seconds) + v.nanos / 1e9;
    if (isTimestamp(v)) return Number(v.seconds) + v.nanos / 1e9;
  }
  return Number.NaN;
}

/** One side of a range rule (`lt`/`lte` or `gt`/`gte`), or a `lt_now`/`gt_now` flag, or unset. */
type Bound = { readonly case: string | undefined; readonly value?: unknown };

/** "≥ 0 and ≤ 2", "> 0", "< 5 or > 10" (protovalidate's exclusive range). */
function rangePhrase(lower: Bound, upper: Bound, target: RuleTarget): string | undefined {
  const symbols: Record<string, string> = { gt: ">", gte: "≥", lt: "<", lte: "≤" };
  const phrase = (b: Bound): string | undefined => {
    const symbol = b.case === undefined ? undefined : symbols[b.case];
    return symbol === undefined || b.value === undefined
      ? undefined
      : `${symbol} ${formatValue(b.value as RuleValue, target)}`;
  };
  const low = phrase(lower);
  const high = phrase(upper);
  if (low !== undefined && high !== undefined) {
    const outside = magnitude(upper.value as RuleValue) < magnitude(lower.value as RuleValue);
    return outside ? `${high} or ${low}` : `${low} and ${high}`;
  }
  return low ?? high;
}

function plural(n: bigint, one: string, many: string): string {
  return `${n} ${n === 1n ? one : many}`;
}

function lengthPhrase(
  rules: Message & { len?: bigint; minLen?: bigint; maxLen?: bigint },
  unitOne: string,
  unitMany: string,
  names: { len: string; min: string; max: string },
): string | undefined {
  const exact = has(rules, names.len) ? (rules as unknown as Record<string, bigint>)[names.len] : undefined;
  const min = has(rules, names.min) ? (rules as unknown as Record<string, bigint>)[names.min] : undefined;
  const max = has(rules, names.max) ? (rules as unknown as Record<string, bigint>)[names.max] : undefined;
  if (exact !== undefined) return `exactly ${plural(exact, unitOne, unitMany)}`;
  if (min !== undefined && max !== undefined) {
    return min === max ? `exactly ${plural(min, unitOne, unitMany)}` : `length ${min}–${max} ${unitMany}`;
  }
  if (min !== undefined) return `at least ${plural(min, unitOne, unitMany)}`;
  if (max !== undefined) return `at most ${plural(max, unitOne, unitMany)}`;
  return undefined;
}

const wellKnownString: Record<string, string> = {
  email: "an email address",
  hostname: "a hostname",
  ip: "an IP address",
  ipv4: "an IPv4 address",
  ipv6: "an IPv6 address",
  uri: "an absolute URI",
  uriRef: "a URI or relative reference",
  address: "a hostname or IP address",
  uuid: "a UUID",
  tuuid: "a UUID without dashes",
  ipWithPrefixlen: "an IP address with prefix length",
  ipv4WithPrefixlen: "an IPv4 address with prefix length",
  ipv6WithPrefixlen: "an IPv6 address with prefix length",
  ipPrefix: "an IP prefix",
  ipv4Prefix: "an IPv4 prefix",
  ipv6Prefix: "an IPv6 prefix",
  hostAndPort: "a host and port (host:port)",
  ulid: "a ULID",
  protobufFqn: "a fully-qualified Protobuf name",
  protobufDotFqn: "a fully-qualified Protobuf name with a leading dot",
};

function listOf(values: readonly RuleValue[], target: RuleTarget): string {
  return values.map((v) => formatValue(v, target)).join(", ");
}

function regexLiteral(pattern: string): string {
  return `/${pattern.replace(/\//g, "\\/")}/`;
}

/** Phrases for the common members of the numeric, duration and timestamp rules. */
function numericPhrases(
  rules: Message & {
    const?: RuleValue | undefined;
    lessThan: Bound;
    greaterThan: Bound;
    in?: RuleValue[];
    notIn?: RuleValue[];
    finite?: boolean;
  },
  target: RuleTarget,
): string[] {
  const out: string[] = [];
  if (has(rules, "const") && rules.const !== undefined) out.push(`must be ${formatValue(rules.const, target)}`);
  const range = rangePhrase(rules.greaterThan, rules.lessThan, target);
  if (range !== undefined) out.push(range);
  if (rules.lessThan.case === "ltNow") out.push("must be in the past");
  if (rules.greaterThan.case === "gtNow") out.push("must be in the future");
  if (rules.in !== undefined && rules.in.length > 0) out.push(`one of ${listOf(rules.in, target)}`);
  if (rules.notIn !== undefined && rules.notIn.length > 0) out.push(`not ${listOf(rules.notIn, target)}`);
  if (rules.finite === true) out.push("finite (not NaN or Infinity)");
  return out;
}

function celPhrases(cel: readonly Rule[], expressions: readonly string[]): string[] {
  return [
    ...cel.map((r) => (r.message !== "" ? r.message : `must satisfy \`${r.expression}\``)),
    ...expressions.map((e) => `must satisfy \`${e}\``),
  ];
}

function enumPhrases(
  rules: { const: number; definedOnly: boolean; in: number[]; notIn: number[] } & Message,
  target: RuleTarget,
): string[] {
  const out: string[] = [];
  const values = target.enum?.values ?? [];
  if (has(rules, "const")) {
    out.push(`must be ${formatValue(rules.const, target)}`);
    return out;
  }
  if (values.length > 0 && (rules.in.length > 0 || rules.notIn.length > 0)) {
    const allowed = values.filter(
      (v) => (rules.in.length === 0 || rules.in.includes(v.number)) && !rules.notIn.includes(v.number),
    );
    if (allowed.length < values.length) {
      out.push(`one of ${allowed.map((v) => v.name).join(", ")}`);
    }
    const zero = values.find((v) => v.number === 0);
    if (zero !== undefined && !allowed.includes(zero)) out.push(`required (not ${zero.name})`);
  } else {
    if (rules.in.length > 0) out.push(`one of ${listOf(rules.in, target)}`);
    if (rules.notIn.length > 0) out.push(`not ${listOf(rules.notIn, target)}`);
  }
  if (rules.definedOnly && out.length === 0) out.push("a defined value");
  return out;
}

/**
 * The rules of a field (or of a list item, map key or map value) in words,
 * one phrase per rule, for example `["length 1–256"]`.
 */
function describeRules(rules: FieldRules, target: RuleTarget): string[] {
  if (rules.ignore === Ignore.ALWAYS) return [];
  const out: string[] = [];
  if (rules.required) out.push("required");
  const t = rules.type;
  switch (t.case) {
    case "string": {
      const r = t.value;
      if (has(r, "const")) out.push(`must be ${JSON.stringify(r.const)}`);
      const chars = lengthPhrase(r, "character", "characters", { len: "len", min: "minLen", max: "maxLen" });
      if (chars !== undefined) out.push(chars);
      const bytes = lengthPhrase(r, "byte", "bytes (UTF-8)", { len: "lenBytes", min: "minBytes", max: "maxBytes" });
      if (bytes !== undefined) out.push(bytes);
      if (has(r, "pattern")) out.push(`must match ${regexLiteral(r.pattern)}`);
      if (has(r, "prefix")) out.push(`must start with ${JSON.stringify(r.prefix)}`);
      if (has(r, "suffix")) out.push(`must end with ${JSON.stringify(r.suffix)}`);
      if (has(r, "contains")) out.push(`must contain ${JSON.stringify(r.contains)}`);
      if (has(r, "notContains")) out.push(`must not contain ${JSON.stringify(r.notContains)}`);
      if (r.in.length > 0) out.push(`one of ${listOf(r.in, target)}`);
      if (r.notIn.length > 0) out.push(`not ${listOf(r.notIn, target)}`);
      const wk = r.wellKnown;
      if (wk.case === "wellKnownRegex") {
        if (wk.value === KnownRegex.HTTP_HEADER_NAME) out.push("must be a valid HTTP header name");
        if (wk.value === KnownRegex.HTTP_HEADER_VALUE) out.push("must be a valid HTTP header value");
      } else if (wk.case !== undefined && wk.value) {
        out.push(`must be ${wellKnownString[wk.case] ?? wk.case}`);
      }
      break;
    }
    case "bytes": {
      const r = t.value;
      if (has(r, "const")) out.push(`must be ${formatValue(r.const, target)}`);
      const len = lengthPhrase(r, "byte", "bytes", { len: "len", min: "minLen", max: "maxLen" });
      if (len !== undefined) out.push(len);
      if (has(r, "pattern")) out.push(`must match ${regexLiteral(r.pattern)}`);
      if (has(r, "prefix")) out.push(`must start with ${formatValue(r.prefix, target)}`);
      if (has(r, "suffix")) out.push(`must end with ${formatValue(r.suffix, target)}`);
      if (has(r, "contains")) out.push(`must contain ${formatValue(r.contains, target)}`);
      if (r.in.length > 0) out.push(`one of ${listOf(r.in, target)}`);
      if (r.notIn.length > 0) out.push(`not ${listOf(r.notIn, target)}`);
      if (r.wellKnown.case !== undefined && r.wellKnown.value) {
        out.push(`must be ${wellKnownString[r.wellKnown.case] ?? r.wellKnown.case} in binary form`);
      }
      break;
    }
    case "bool":
      if (has(t.value, "const")) out.push(`must be ${t.value.const}`);
      break;
    case "enum":
      out.push(...enumPhrases(t.value, target));
      break;
    case "repeated": {
      const r = t.value;
      const min = has(r, "minItems") ? r.minItems : undefined;
      const max = has(r, "maxItems") ? r.maxItems : undefined;
      if (min !== undefined && max !== undefined && min === max) {
        out.push(`exactly ${plural(min, "item", "items")}`);
      } else {
        const parts = [
          ...(min !== undefined ? [`at least ${plural(min, "item", "items")}`] : []),
          ...(max !== undefined ? [`at most ${plural(max, "item", "items")}`] : []),
        ];
        if (parts.length > 0) out.push(parts.join(", "));
      }
      if (r.unique) out.push("items must be unique");
      if (r.items !== undefined) {
        const items = describeRules(r.items, target);
        if (items.length > 0) out.push(`each item: ${items.join(", ")}`);
      }
      break;
    }
    case "map": {
      const r = t.value;
      const min = has(r, "minPairs") ? r.minPairs : undefined;
      const max = has(r, "maxPairs") ? r.maxPairs : undefined;
      const parts = [
        ...(min !== undefined ? [`at least ${plural(min, "entry", "entries")}`] : []),
        ...(max !== undefined ? [`at most ${plural(max, "entry", "entries")}`] : []),
      ];
      if (parts.length > 0) out.push(parts.join(", "));
      if (r.keys !== undefined) {
        const keys = describeRules(r.keys, { scalar: ScalarType.STRING });
        if (keys.length > 0) out.push(`each key: ${keys.join(", ")}`);
      }
      if (r.values !== undefined) {
        const values = describeRules(r.values, target);
        if (values.length > 0) out.push(`each value: ${values.join(", ")}`);
      }
      break;
    }
    case "any":
      if (t.value.in.length > 0) out.push(`"@type" one of ${listOf(t.value.in, target)}`);
      if (t.value.notIn.length > 0) out.push(`"@type" not ${listOf(t.value.notIn, target)}`);
      break;
    case "duration":
      out.push(...numericPhrases(t.value, target));
      break;
    case "timestamp": {
      out.push(...numericPhrases(t.value, target));
      if (t.value.within !== undefined) out.push(`within ${formatDuration(t.value.within)} of now`);
      break;
    }
    case "fieldMask": {
      const r = t.value;
      if (r.const !== undefined) out.push(`must be ${JSON.stringify(r.const.paths.join(","))}`);
      if (r.in.length > 0) out.push(`paths only from ${listOf(r.in, target)}`);
      if (r.notIn.length > 0) out.push(`paths not from ${listOf(r.notIn, target)}`);
      break;
    }
    case undefined:
      break;
    default:
      out.push(...numericPhrases(t.value, target));
      break;
  }
  out.push(...celPhrases(rules.cel, rules.celExpression));
  if (rules.ignore === Ignore.IF_ZERO_VALUE && out.length > 0) out.push("checked only when set");
  return out;
}

/** The rule target of a field: its enum, or the scalar of its items. */
function ruleTarget(field: DescField): RuleTarget {
  switch (field.fieldKind) {
    case "enum":
      return { enum: field.enum };
    case "scalar":
      return { scalar: field.scalar };
    case "list":
      return field.listKind === "enum"
        ? { enum: field.enum }
        : field.listKind === "scalar"
          ? { scalar: field.scalar }
          : {};
    case "map":
      return field.mapKind === "enum"
        ? { enum: field.enum }
        : field.mapKind === "scalar"
          ? { scalar: field.scalar }
          : {};
    default:
      return {};
  }
}

/** Replaces proto field names (snake_case) with their JSON names in a rule message. */
export function withJsonNames(text: string, message: DescMessage): string {
  let out = text;
  for (const field of message.fields) {
    if (field.name !== field.jsonName) {
      out = out.replace(new RegExp(`\\b${field.name}\\b`, "g"), field.jsonName);
    }
  }
  return out;
}

/** A field's rules in words, with proto names rewritten to JSON names. */
export function describeFieldRules(field: DescField): string[] {
  if (!hasOption(field, fieldRulesExtension)) return [];
  return describeRules(getOption(field, fieldRulesExtension), ruleTarget(field)).map((p) =>
    withJsonNames(p, field.parent),
  );
}

/** Message-level rules (CEL, `oneof` rules) in words, with JSON names. */
export function describeMessageRules(message: DescMessage): string[] {
  if (!hasOption(message, messageRulesExtension)) return [];
  const rules = getOption(message, messageRulesExtension);
  const byName = new Map(message.fields.map((f) => [f.name, f.jsonName]));
  const oneofs = rules.oneof.map((o) => {
    const names = o.fields.map((n) => `\`${byName.get(n) ?? n}\``).join(", ");
    return o.required ? `exactly one of ${names} must be set` : `at most one of ${names} may be set`;
  });
  return [...celPhrases(rules.cel, rules.celExpression), ...oneofs].map((p) => withJsonNames(p, message));
}

/** Whether a oneof is marked `(buf.validate.oneof).required`. */
function isOneofRequired(oneof: DescOneof): boolean {
  return hasOption(oneof, oneofRulesExtension) && getOption(oneof, oneofRulesExtension).required;
}

/** Which fields and oneofs of a request message must be set. */
export interface RequiredMembers {
  readonly fields: ReadonlySet<DescField>;
  readonly oneofs: ReadonlySet<DescOneof>;
}

/**
 * Finds the members a request must set: those whose unset (zero) value
 * breaks one of their own rules, found by validating an empty message with
 * protovalidate itself, so every standard rule counts (a `min_len`, a
 * pattern that rejects "", an enum `not_in: [0]`, `required`, CEL field
 * rules). Message-level CEL rules are not attributed to a field. When the
 * rules cannot be evaluated, only explicit `required` markers count.
 */
export function findRequiredMembers(message: DescMessage, validator: Validator): RequiredMembers {
  const fields = new Set<DescField>();
  const oneofs = new Set<DescOneof>();
  const result = validator.validate(message, create(message));
  if (result.kind === "invalid") {
    for (const violation of result.violations) {
      const [first, ...rest] = violation.field;
      if (first === undefined || rest.length > 0 || violation.rule.length === 0 && first.kind === "field") {
        continue;
      }
      if (first.kind === "field" && first.parent === message) fields.add(first);
      if (first.kind === "oneof" && first.parent === message) oneofs.add(first);
    }
  } else if (result.kind === "error") {
    for (const field of message.fields) {
      if (hasOption(field, fieldRulesExtension) && getOption(field, fieldRulesExtension).required) {
        fields.add(field);
      }
    }
  }
  for (const oneof of message.oneofs) {
    if (isOneofRequired(oneof)) oneofs.add(oneof);
  }
  return { fields, oneofs };
}
