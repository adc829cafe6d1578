/**
 * Admission of SDK calls: the method allowlist, the per-execution call count
 * and the in-flight count. The parent runs one per execution as the
 * authority; the child runs one too so a flood stops next to the isolate
 * before it reaches IPC.
 */

/** What to do with one attempted SDK call. */
export type GateDecision =
  | { readonly kind: "allow" }
  | { readonly kind: "reject"; readonly code: "not_found"; readonly message: string }
  | { readonly kind: "limit"; readonly limit: "sdk-calls" | "concurrent-sdk-calls"; readonly message: string };

/** Counts and checks the SDK calls of one execution. */
export interface SdkGate {
  /** Decides on one attempt; an allowed call is in flight until `settle()`. */
  admit(service: string, method: string): GateDecision;
  /** Marks one allowed call as finished. */
  settle(): void;
}

/** Options of `createSdkGate`. */
export interface SdkGateOptions {
  /** Allowed methods per service; leave out to skip the allowlist (the child, where the parent decides). */
  readonly services?: Readonly<Record<string, readonly string[]>>;
  readonly maxSdkCalls: number;
  readonly maxConcurrentSdkCalls: number;
}

/**
 * Creates the gate for one execution. Every attempt counts towards
 * `maxSdkCalls`, unknown methods too, so probing is bounded as well.
 *
 * @example
 * const gate = createSdkGate({ services: { models: ["listModels"] }, maxSdkCalls: 50, maxConcurrentSdkCalls: 4 });
 * gate.admit("models", "listModels"); // { kind: "allow" }
 * gate.admit("models", "constructor"); // { kind: "reject", code: "not_found", … }
 */
export function createSdkGate(options: SdkGateOptions): SdkGate {
  const allowed =
    options.services === undefined
      ? undefined
      : new Map(Object.entries(options.services).map(([service, methods]) => [service, new Set(methods)]));
  let attempts = 0;
  let inFlight = 0;
  return {
    admit(service, method) {
      attempts += 1;
      if (attempts > options.maxSdkCalls) {
        return {
          kind: "limit",
          limit: "sdk-calls",
          message: `more than ${options.maxSdkCalls} SDK calls in one execution`,
        };
      }
      if (allowed !== undefined && allowed.get(service)?.has(method) !== true) {
        return { kind: "reject", code: "not_found", message: `gateway.${service}.${method} does not exist` };
      }
      if (inFlight + 1 > options.maxConcurrentSdkCalls) {
        return {
          kind: "limit",
          limit: "concurrent-sdk-calls",
          message:
            `more than ${options.maxConcurrentSdkCalls} SDK calls in flight at once; ` +
            "await some before starting more",
        };
      }
      inFlight += 1;
      return { kind: "allow" };
    },
    settle() {
      inFlight = Math.max(0, inFlight - 1);
    },
  };
}
