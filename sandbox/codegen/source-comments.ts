import type {
  DescEnum,
  DescEnumValue,
  DescField,
  DescFile,
  DescMessage,
  DescMethod,
  DescOneof,
  DescService,
} from "@bufbuild/protobuf";

/** The descriptors whose comments the SDK docs use. */
export type CommentedDesc =
  | DescMessage
  | DescField
  | DescOneof
  | DescEnum
  | DescEnumValue
  | DescService
  | DescMethod;

/** Where a descriptor sits in its file, as a SourceCodeInfo location path. */
function sourcePath(desc: CommentedDesc): number[] {
  switch (desc.kind) {
    case "message":
      return desc.parent === undefined
        ? [4, desc.file.proto.messageType.indexOf(desc.proto)]
        : [...sourcePath(desc.parent), 3, desc.parent.proto.nestedType.indexOf(desc.proto)];
    case "enum":
      return desc.parent === undefined
        ? [5, desc.file.proto.enumType.indexOf(desc.proto)]
        : [...sourcePath(desc.parent), 4, desc.parent.proto.enumType.indexOf(desc.proto)];
    case "field":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.field.indexOf(desc.proto)];
    case "oneof":
      return [...sourcePath(desc.parent), 8, desc.parent.proto.oneofDecl.indexOf(desc.proto)];
    case "enum_value":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.value.indexOf(desc.proto)];
    case "service":
      return [6, desc.file.proto.service.indexOf(desc.proto)];
    case "rpc":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.method.indexOf(desc.proto)];
  }
}

function fileOf(desc: CommentedDesc): DescFile {
  switch (desc.kind) {
    case "field":
    case "oneof":
    case "enum_value":
    case "rpc":
      return desc.parent.file;
    default:
      return desc.file;
  }
}

const locationsByFile = new WeakMap<DescFile, Map<string, string>>();

function commentsOf(file: DescFile): Map<string, string> {
  let byPath = locationsByFile.get(file);
  if (byPath === undefined) {
    byPath = new Map();
    for (const location of file.proto.sourceCodeInfo?.location ?? []) {
      const text = location.leadingComments ?? location.trailingComments;
      if (text !== undefined && text.trim() !== "") {
        byPath.set(location.path.join("."), text);
      }
    }
    locationsByFile.set(file, byPath);
  }
  return byPath;
}

/**
 * The comment on a descriptor in its .proto source (leading, else trailing),
 * without the comment markers' indentation, or "" when there is none (for
 * example when the descriptors were built with `--exclude-source-info`).
 *
 * This reads SourceCodeInfo directly instead of using protoplugin's
 * `getComments`, because importing `@bufbuild/protoplugin` at run time also
 * loads its transpiler (TypeScript and @typescript/vfs; about 0.6 s more
 * than the TypeScript the executor already loads) into the server process.
 */
export function sourceComment(desc: CommentedDesc): string {
  const raw = commentsOf(fileOf(desc)).get(sourcePath(desc).join("."));
  if (raw === undefined) return "";
  const lines = raw
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd());
  return lines.join("\n").trim();
}
