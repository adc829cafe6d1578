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

run("print buf/validate from @bufbuild/protovalidate", process.execPath, [
  bin("tsx"),
  "scripts/print-validate-proto.ts",
]);
run("buf lint", bin("buf"), ["lint"]);

process.stdout.write("check: gen/ matches buf generate\n");
const scratch = mkdtempSync(join(tmpdir(), "protogate-gen-"));
try {
  execFileSync(bin("buf"), ["generate", "--output", scratch], { cwd: root, stdio: "inherit" });
  const differing = diffTrees(join(scratch, "gen"), join(root, "gen"));
  if (differing.length > 0) {
    process.stderr.write(
      `gen/ is stale; run \`npm run generate\` and commit. Differs: ${differing.join(", ")}\n`,
    );
    process.exit(1);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

process.stdout.write("check: examples/weather/gen/ matches its buf.gen.yaml\n");
const exampleScratch = mkdtempSync(join(tmpdir(), "protogate-example-gen-"));
try {
  const template = "examples/weather/buf.gen.yaml";
  execFileSync(bin("buf"), ["generate", "--template", template, "--output", exampleScratch], { cwd: root, stdio: "inherit" });
  const differing = diffTrees(join(exampleScratch, "examples", "weather", "gen"), join(root, "examples", "weather", "gen"));
  if (differing.length > 0) {
    process.stderr.write(`examples/weather/gen/ is stale; run \`npx buf generate --template ${template}\`. Differs: ${differing.join(", ")}\n`);
    process.exit(1);
  }
} finally {
  rmSync(exampleScratch, { recursive: true, force: true });
}

run("tsc --noEmit", process.execPath, [bin("tsc"), "--noEmit", "-p", "tsconfig.json"]);
