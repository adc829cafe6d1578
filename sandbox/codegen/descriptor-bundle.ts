/**
 * The descriptors the sandbox SDK was generated from, carried to run time.
 *
 * Why: the descriptors that protoc-gen-es embeds in gen/ have their source
 * info (the comments) stripped, and the sandbox's docs are the comments. The
 * protoc plugin therefore also writes gen/sandbox/descriptors.json: the
 * input files with their comments and the service selection, so a server can
 * generate the same SDK at start-up, together with services it loads then
 * (an operator's), in one declaration file.
 */
import {
  clone,
  create,
  createFileRegistry,
  type DescFile,
  type FileRegistry,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  type FileDescriptorSet,
  FileDescriptorSetSchema,
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
} from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import type { ServiceSelection } from "./select-services.js";

/** The contents of gen/sandbox/descriptors.json. */
export interface DescriptorBundle {
  /** Format version. */
  readonly version: 1;
  /** The service selection the plugin was run with (include, exclude, names). */
  readonly selection: ServiceSelection;
  /**
   * A base64 `google.protobuf.FileDescriptorSet` of the files that define
   * the selected services and their imports, with source info. The
   * well-known types and `buf/validate/validate.proto` are left out: they
   * are resolved from the runtime packages.
   */
  readonly fileDescriptorSet: string;
}

/** Files every runtime already has, by proto file name. */
const builtinFiles: ReadonlyMap<string, DescFile> = new Map(
  [
    file_google_protobuf_any,
    file_google_protobuf_api,
    file_google_protobuf_descriptor,
    file_google_protobuf_duration,
    file_google_protobuf_empty,
    file_google_protobuf_field_mask,
    file_google_protobuf_source_context,
    file_google_protobuf_struct,
    file_google_protobuf_timestamp,
    file_google_protobuf_type,
    file_google_protobuf_wrappers,
    file_buf_validate_validate,
  ].map((file) => [`${file.name}.proto`, file]),
);

/**
 * Makes a registry from a file set whose imports may be incomplete: an
 * import the set does not contain is taken from the well-known types or
 * protovalidate's `buf/validate/validate.proto` (for images built with
 * `buf build --exclude-imports`, and for the bundle). Throws when an import
 * is found nowhere.
 *
 * @example
 * const registry = createDescriptorRegistry(fromBinary(FileDescriptorSetSchema, readFileSync("image.binpb")));
 */
export function createDescriptorRegistry(set: FileDescriptorSet): FileRegistry {
  const present = new Set(set.file.map((file) => file.name));
  const added: FileDescriptorProto[] = [];
  const addBuiltin = (name: string) => {
    if (present.has(name)) return;
    const builtin = builtinFiles.get(name);
    if (builtin === undefined) return;
    present.add(name);
    for (const dependency of builtin.dependencies) addBuiltin(`${dependency.name}.proto`);
    added.push(builtin.proto);
  };
  for (const file of set.file) for (const dependency of file.dependency) addBuiltin(dependency);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: [...added, ...set.file] }));
}

/**
 * Writes the bundle for the given files (with their source info) and the
 * selection. Imports that are not well-known types or protovalidate's rules
 * are included, transitively.
 */
export function createDescriptorBundle(files: readonly DescFile[], selection: ServiceSelection): DescriptorBundle {
  const included = new Map<string, FileDescriptorProto>();
  const visit = (file: DescFile) => {
    const name = `${file.name}.proto`;
    if (included.has(name) || builtinFiles.has(name)) return;
    for (const dependency of file.dependencies) visit(dependency);
    // Tools add their own fields to a file (a Buf image's `buf_extension`); only the descriptor travels.
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    delete proto.$unknown;
    included.set(name, proto);
  };
  for (const file of files) visit(file);
  const set = create(FileDescriptorSetSchema, { file: [...included.values()] });
  return {
    version: 1,
    selection: {
      ...(selection.include === undefined ? {} : { include: [...selection.include] }),
      exclude: [...(selection.exclude ?? [])],
      names: { ...selection.names },
    },
    fileDescriptorSet: Buffer.from(toBinary(FileDescriptorSetSchema, set)).toString("base64"),
  };
}

/** A bundle read back: its files, in a registry, and the selection. */
export interface LoadedDescriptorBundle {
  readonly registry: FileRegistry;
  /** The bundle's own files (not the resolved built-ins), in bundle order. */
  readonly files: readonly DescFile[];
  readonly selection: ServiceSelection;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new Error(`descriptor bundle: ${what} is not a list of strings`);
  }
  return value;
}

/**
 * Reads a bundle from its parsed JSON (untrusted shape) and builds its
 * registry. Throws with a reason when the JSON is not a bundle.
 *
 * @example
 * const bundle = readDescriptorBundle(JSON.parse(readFileSync("gen/sandbox/descriptors.json", "utf8")));
 * const surface = generateSandboxSurface(bundle.files, bundle.selection);
 */
export function readDescriptorBundle(json: unknown): LoadedDescriptorBundle {
  if (typeof json !== "object" || json === null) throw new Error("descriptor bundle: not an object");
  const { version, selection, fileDescriptorSet } = json as Record<string, unknown>;
  if (version !== 1) throw new Error(`descriptor bundle: unsupported version ${String(version)}`);
  if (typeof fileDescriptorSet !== "string") throw new Error("descriptor bundle: fileDescriptorSet is not a string");
  if (typeof selection !== "object" || selection === null) throw new Error("descriptor bundle: selection is not an object");
  const raw = selection as Record<string, unknown>;
  const names: Record<string, string> = {};
  if (typeof raw["names"] === "object" && raw["names"] !== null) {
    for (const [service, property] of Object.entries(raw["names"])) {
      if (typeof property !== "string") throw new Error(`descriptor bundle: selection.names.${service} is not a string`);
      names[service] = property;
    }
  }
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSet, "base64"));
  const registry = createDescriptorRegistry(set);
  const files = set.file.map((proto) => {
    const file = registry.getFile(proto.name);
    if (file === undefined) throw new Error(`descriptor bundle: ${proto.name} is missing from its registry`);
    return file;
  });
  return {
    registry,
    files,
    selection: {
      ...(raw["include"] === undefined ? {} : { include: stringList(raw["include"], "selection.include") }),
      exclude: raw["exclude"] === undefined ? [] : stringList(raw["exclude"], "selection.exclude"),
      names,
    },
  };
}
