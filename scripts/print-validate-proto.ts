/**
 * Prints protovalidate's `buf/validate/validate.proto` back to source, from
 * the compiled descriptor that `@bufbuild/protovalidate` ships, into the
 * git-ignored `.buf-deps/` module that buf.yaml lists.
 *
 * Why: the Buf Schema Registry is unreachable from our machines, so
 * `deps: [buf.build/bufbuild/protovalidate]` cannot be resolved. The package
 * already carries the exact descriptor its runtime validates against, so
 * printing it keeps the rules our protos use in lock-step with the runtime.
 * The printer itself is `printValidateProto` (the gateway uses it too).
 *
 * Run with `tsx scripts/print-validate-proto.ts` (`npm start` and `npm test`
 * do it, so `buf curl --schema proto` and `buf lint` work on a fresh clone).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { printValidateProto } from "../sandbox/codegen/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outFile = join(root, ".buf-deps", "buf", "validate", "validate.proto");

mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, printValidateProto());
