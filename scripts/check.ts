/**
 * The static half of `npm test`: fails when the protos do not lint, when
 * `buf generate` would change the committed gen/, or when anything does not
 * type-check. vitest runs after it (vitest itself does not type-check).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

function run(step: string, command: string, args: string[]): void {
  process.stdout.write(`check: ${step}\n`);
  execFileSync(command, args, { cwd: root, stdio: "inherit" });
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** Names the files that differ between two trees, in either direction. */
function diffTrees(expected: string, actual: string): string[] {
  const expectedFiles = new Set(listFiles(expected).map((f) => relative(expected, f)));
  const actualFiles = new Set(listFiles(actual).map((f) => relative(actual, f)));
  const differing: string[] = [];
  for (const file of new Set([...expectedFiles, ...actualFiles])) {
    if (!expectedFiles.has(file) || !actualFiles.has(file)) {
      differing.push(file);
    } else if (!readFileSync(join(expected, file)).equals(readFileSync(join(actual, file)))) {
      differing.push(file);
    }
  }
  return differing.sort();
}

/**
 * Fails when `buf generate` (with `args`) would change the committed folder
 * `genDir`, naming the files that differ and how to regenerate them.
 */
function checkGenerated(step: string, genDir: string, args: readonly string[], fix: string): void {
  process.stdout.write(`check: ${step}\n`);
  const scratch = mkdtempSync(join(tmpdir(), "protogate-gen-"));
  let differing: string[];
  try {
    execFileSync(bin("buf"), ["generate", ...args, "--output", scratch], { cwd: root, stdio: "inherit" });
    differing = diffTrees(join(scratch, genDir), join(root, genDir));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (differing.length > 0) {
    process.stderr.write(`${genDir}/ is stale; ${fix}. Differs: ${differing.join(", ")}\n`);
    process.exit(1);
  }
}

run("print buf/validate from @bufbuild/protovalidate", process.execPath, [
  bin("tsx"),
  "scripts/print-validate-proto.ts",
]);
run("buf lint", bin("buf"), ["lint"]);
checkGenerated("gen/ matches buf generate", "gen", [], "run `npm run generate` and commit");
const template = "examples/weather/buf.gen.yaml";
checkGenerated("examples/weather/gen/ matches its buf.gen.yaml", "examples/weather/gen", ["--template", template], `run \`npx buf generate --template ${template}\``);
run("tsc --noEmit", process.execPath, [bin("tsc"), "--noEmit", "-p", "tsconfig.json"]);
