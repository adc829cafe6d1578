#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so no build step is needed. The CLI
// runs in this process (tsx's loader is registered here, not in a child),
// so SIGINT and SIGTERM reach `serve`'s graceful shutdown and its exit code
// is the process's exit code.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
