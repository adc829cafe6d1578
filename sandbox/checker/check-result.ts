/** The checker's results: tagged values, never exceptions, for expected outcomes. */

/** One problem in the model's code, with the docs it needs to fix it. */
export interface SandboxDiagnostic {
  /** 1-based line in the model's code. */
  readonly line: number;
  /** 1-based column in the model's code. */
  readonly column: number;
  /**
   * TypeScript's error number (2339, 2353, …), or one of the sandbox's own
   * codes: `forbidden_import`, `forbidden_require`, `forbidden_eval`,
   * `forbidden_function_constructor`, `forbidden_global`,
   * `forbidden_constructor_access`, `unbalanced_body`, `code_too_long`,
   * `check_timeout`, `check_failed`.
   */
  readonly code: number | string;
  /** What is wrong, as TypeScript (or the sandbox) says it. */
  readonly message: string;
  /**
   * What the model needs to fix it: the members of the type it used, the
   * fields and rules of the request it built, the signature it called, the
   * allowed enum values. Compact (at most 1,500 characters).
   */
  readonly help: string;
}

/** The outcome of checking one piece of code. */
export type CheckResult =
  | { readonly kind: "ok"; readonly durationMs: number }
  | {
      readonly kind: "diagnostics";
      readonly diagnostics: readonly SandboxDiagnostic[];
      readonly durationMs: number;
    };
