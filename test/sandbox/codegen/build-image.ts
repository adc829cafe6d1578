/**
 * Builds Protobuf descriptors for the sandbox codegen tests with
 * `buf build -o`: the repository's own protos, or ad-hoc .proto files in a
 * temporary module next to a copy of protovalidate's validate.proto.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileRegistry, type DescFile, type FileRegistry, fromBinary } from "@bufbuild/protobuf";
import { type FileDescriptorSet, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const bin = (name: string) => join(repoRoot, "node_modules", ".bin", name);
const validateProto = join(repoRoot, ".buf-deps", "buf", "validate", "validate.proto");

/** `.buf-deps/` is git-ignored and printed by a script (npm test runs it first). */
function ensureValidateProto(): void {
  if (!existsSync(validateProto)) {
    execFileSync(process.execPath, [bin("tsx"), "scripts/print-validate-proto.ts"], { cwd: repoRoot });
  }
}

/** Descriptors as buf built them: the set (files in dependency order) and a registry over it. */
export interface Image {
  readonly fileSet: FileDescriptorSet;
  readonly registry: FileRegistry;
}

function readImage(path: string): Image {
  const fileSet = fromBinary(FileDescriptorSetSchema, readFileSync(path));
  return { fileSet, registry: createFileRegistry(fileSet) };
}

/** The repository's protos, as buf builds them (with source info, so comments are there). */
export function buildRepoImage(): Image {
  ensureValidateProto();
  const dir = mkdtempSync(join(tmpdir(), "sandbox-image-"));
  try {
    const out = join(dir, "image.binpb");
    execFileSync(bin("buf"), ["build", "-o", out], { cwd: repoRoot });
    return readImage(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds ad-hoc .proto sources (path → text) into descriptors. */
export function buildAdHocImage(sources: Readonly<Record<string, string>>): Image {
  ensureValidateProto();
  const dir = mkdtempSync(join(tmpdir(), "sandbox-adhoc-"));
  try {
    writeFileSync(join(dir, "buf.yaml"), "version: v2\nmodules:\n  - path: src\n  - path: deps\n");
    mkdirSync(join(dir, "deps", "buf", "validate"), { recursive: true });
    copyFileSync(validateProto, join(dir, "deps", "buf", "validate", "validate.proto"));
    for (const [path, text] of Object.entries(sources)) {
      mkdirSync(dirname(join(dir, "src", path)), { recursive: true });
      writeFileSync(join(dir, "src", path), text);
    }
    const out = join(dir, "image.binpb");
    execFileSync(bin("buf"), ["build", "-o", out], { cwd: dir });
    return readImage(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The files of a registry whose names start with one of the prefixes. */
export function filesUnder(registry: FileRegistry, ...prefixes: string[]): DescFile[] {
  return [...registry.files].filter((f) => prefixes.some((p) => f.name.startsWith(p)));
}
