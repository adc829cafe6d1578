/**
 * Type-checks the model's sandbox code against the SDK declarations before
 * anything runs, and explains each error with the docs needed to fix it.
 */
export type { CheckResult, SandboxDiagnostic } from "./check-result.js";
export type { TypeScriptChecker, TypeScriptCheckerOptions } from "./typescript-checker.js";
export { createTypeScriptChecker, defaultCheckerWorkers } from "./typescript-checker.js";
