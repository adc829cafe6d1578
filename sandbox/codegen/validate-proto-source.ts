/** Prints protovalidate's rules proto back to source (see {@link printValidateProto}). */
import { isFieldSet } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  FieldDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
} from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

const scalarNames: Partial<Record<FieldDescriptorProto_Type, string>> = {
  [FieldDescriptorProto_Type.DOUBLE]: "double",
  [FieldDescriptorProto_Type.FLOAT]: "float",
  [FieldDescriptorProto_Type.INT64]: "int64",
  [FieldDescriptorProto_Type.UINT64]: "uint64",
  [FieldDescriptorProto_Type.INT32]: "int32",
  [FieldDescriptorProto_Type.FIXED64]: "fixed64",
  [FieldDescriptorProto_Type.FIXED32]: "fixed32",
  [FieldDescriptorProto_Type.BOOL]: "bool",
  [FieldDescriptorProto_Type.STRING]: "string",
  [FieldDescriptorProto_Type.BYTES]: "bytes",
  [FieldDescriptorProto_Type.UINT32]: "uint32",
  [FieldDescriptorProto_Type.SFIXED32]: "sfixed32",
  [FieldDescriptorProto_Type.SFIXED64]: "sfixed64",
  [FieldDescriptorProto_Type.SINT32]: "sint32",
  [FieldDescriptorProto_Type.SINT64]: "sint64",
};

function fieldType(field: FieldDescriptorProto): string {
  const scalar = scalarNames[field.type];
  if (scalar !== undefined) return scalar;
  if (
    field.type === FieldDescriptorProto_Type.MESSAGE ||
    field.type === FieldDescriptorProto_Type.ENUM
  ) {
    return field.typeName;
  }
  throw new Error(`unsupported field type ${field.type} on ${field.name}`);
}

function printField(field: FieldDescriptorProto, indent: string, inOneof: boolean): string {
  const label = inOneof
    ? ""
    : field.label === FieldDescriptorProto_Label.REPEATED
      ? "repeated "
      : field.label === FieldDescriptorProto_Label.REQUIRED
        ? "required "
        : "optional ";
  return `${indent}${label}${fieldType(field)} ${field.name} = ${field.number};\n`;
}

function printEnum(e: EnumDescriptorProto, indent: string): string {
  const values = e.value.map((v) => `${indent}  ${v.name} = ${v.number};\n`).join("");
  return `${indent}enum ${e.name} {\n${values}${indent}}\n`;
}

function printMessage(m: DescriptorProto, indent: string): string {
  let body = "";
  for (const nested of m.nestedType) body += printMessage(nested, `${indent}  `);
  for (const e of m.enumType) body += printEnum(e, `${indent}  `);
  const oneofPrinted = new Set<number>();
  for (const field of m.field) {
    const oneofIndex = field.oneofIndex;
    if (isFieldSet(field, FieldDescriptorProtoSchema.field.oneofIndex) && !field.proto3Optional) {
      if (oneofPrinted.has(oneofIndex)) continue;
      oneofPrinted.add(oneofIndex);
      const members = m.field.filter(
        (f) => isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && f.oneofIndex === oneofIndex,
      );
      const name = m.oneofDecl[oneofIndex]?.name ?? `oneof_${oneofIndex}`;
      body += `${indent}  oneof ${name} {\n`;
      for (const member of members) body += printField(member, `${indent}    `, true);
      body += `${indent}  }\n`;
      continue;
    }
    body += printField(field, `${indent}  `, false);
  }
  for (const range of m.extensionRange) {
    // Descriptor ranges are end-exclusive; proto source ranges are inclusive.
    const end = range.end >= 536870912 ? "max" : String(range.end - 1);
    body += `${indent}  extensions ${range.start} to ${end};\n`;
  }
  return `${indent}message ${m.name} {\n${body}${indent}}\n`;
}

/**
 * protovalidate's `buf/validate/validate.proto` as proto source, printed
 * from the compiled descriptor `@bufbuild/protovalidate` ships (CEL options
 * left out: buf needs only the messages, enums and extensions to compile
 * `(buf.validate.field)` options).
 *
 * Why: the Buf Schema Registry is unreachable from our machines, so a
 * `deps:` entry cannot supply it. The repository's own build prints it into
 * `.buf-deps/` (scripts/print-validate-proto.ts); the gateway prints it when
 * it builds an operator's proto directory at start-up.
 *
 * @example
 * writeFileSync(join(dir, "buf", "validate", "validate.proto"), printValidateProto());
 */
export function printValidateProto(): string {
  const proto = file_buf_validate_validate.proto;
  let out = "// Printed from @bufbuild/protovalidate's descriptor by protogate. Do not edit.\n";
  out += 'syntax = "proto2";\n\n';
  out += `package ${proto.package};\n\n`;
  for (const dep of proto.dependency) out += `import "${dep}";\n`;
  out += "\n";
  for (const e of proto.enumType) out += printEnum(e, "");
  for (const m of proto.messageType) out += printMessage(m, "");
  const byExtendee = new Map<string, FieldDescriptorProto[]>();
  for (const ext of proto.extension) {
    const list = byExtendee.get(ext.extendee) ?? [];
    list.push(ext);
    byExtendee.set(ext.extendee, list);
  }
  for (const [extendee, fields] of byExtendee) {
    out += `extend ${extendee} {\n`;
    for (const field of fields) out += printField(field, "  ", false);
    out += "}\n";
  }
  return out;
}
