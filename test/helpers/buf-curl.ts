import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_protogate_v1_errors } from "../../gen/protogate/v1/errors_pb.js";
import { file_protogate_v1_inference_service } from "../../gen/protogate/v1/inference_service_pb.js";
import { file_protogate_v1_model_service } from "../../gen/protogate/v1/model_service_pb.js";
import { type ProcessResult, repoRoot, runProcess } from "./run-process.js";

/** A schema file for `buf curl --schema`, and how to remove it. */
export interface BufCurlSchema {
  /** Path of a binary FileDescriptorSet (`.binpb`, which buf reads as an image). */
  readonly path: string;
  /** Deletes the temporary directory that holds it. */
  remove(): void;
}

/**
 * Writes every service's descriptors, the error details and their imports
 * (buf/validate, google/protobuf) as a FileDescriptorSet taken from gen/,
 * so buf curl can also decode error details.
 *
 * Why: `buf curl --schema proto` needs the git-ignored `.buf-deps` copy of
 * buf/validate; the generated descriptors carry everything already, so a
 * test works on a clean checkout and against exactly the schema the server
 * was built from.
 *
 * @example
 * const schema = writeBufCurlSchema();
 * await bufCurl(schema, ["--protocol", "connect", "-d", "{}", `${url}/protogate.v1.ModelService/ListModels`]);
 * schema.remove();
 */
export function writeBufCurlSchema(): BufCurlSchema {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    file.dependencies.forEach(visit);
    files.set(file.name, file);
  };
  [file_protogate_v1_inference_service, file_protogate_v1_model_service, file_protogate_v1_errors, file_grpc_health_v1_health].forEach(visit);
  const dir = mkdtempSync(join(tmpdir(), "protogate-buf-curl-"));
  const path = join(dir, "protogate.binpb");
  const set = create(FileDescriptorSetSchema, { file: [...files.values()].map((file) => file.proto) });
  writeFileSync(path, toBinary(FileDescriptorSetSchema, set));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs `buf curl --schema <schema> …args` (the npm-installed buf, offline)
 * with a timeout.
 *
 * @example
 * const result = await bufCurl(schema, ["--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}", `${url}/grpc.health.v1.Health/Check`]);
 */
export function bufCurl(schema: BufCurlSchema, args: readonly string[], timeoutMs = 15_000): Promise<ProcessResult> {
  return runProcess(join(repoRoot, "node_modules", ".bin", "buf"), ["curl", "--schema", schema.path, ...args], { timeoutMs });
}
