// Installs dependencies when they are missing or older than package-lock.json,
// so `npm start` and `npm test` work on a fresh clone with one command.
// Plain JavaScript: it must run before anything (tsx, TypeScript) is installed.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const installed = "node_modules/.package-lock.json";
const stale = !existsSync(installed) || statSync("package-lock.json").mtimeMs > statSync(installed).mtimeMs;
if (stale) {
  process.stderr.write("protogate: installing dependencies (npm ci)…\n");
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
}
