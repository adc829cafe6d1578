#!/usr/bin/env node
// Runs the TypeScript CLI without a build step: bin/typescript-hooks.js
// compiles our sources as Node loads them (see there for why not tsx). The
// CLI runs in this process (the hooks are registered here, not in a
// child), so SIGINT and SIGTERM reach `serve`'s graceful shutdown and its
// exit code is the process's exit code.
import { register } from "node:module";

register("./typescript-hooks.js", import.meta.url);
// Stack traces name the .ts files and lines, through the inline source maps.
process.setSourceMapsEnabled(true);
await import("../cli/main.ts");
