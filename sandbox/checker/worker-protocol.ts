/** Messages between the checker and its worker. */
import type { DocsIndex } from "../docs/index.js";
import type { SandboxDiagnostic } from "./check-result.js";

/** What the worker is started with. */
export interface CheckerWorkerData {
  readonly declarations: string;
  readonly docs: DocsIndex;
  readonly maxCodeLength: number;
}

/** Checker → worker. */
export interface CheckRequest {
  readonly id: number;
  readonly code: string;
}

/** Worker → checker. */
export type WorkerReply =
  /** Warmed up and ready for checks. */
  | { readonly kind: "ready" }
  /** The engine could not start (for example, the declarations do not type-check). */
  | { readonly kind: "fatal"; readonly message: string }
  | { readonly kind: "checked"; readonly id: number; readonly diagnostics: readonly SandboxDiagnostic[] }
  /** The engine threw while checking; a bug, not the model's error. */
  | { readonly kind: "failed"; readonly id: number; readonly message: string };
