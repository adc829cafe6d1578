import { CallAbortController } from "./call-abort-controller.js";

/** A signal with a time limit, and the means to stop its timer early. */
export interface TimeoutSignal {
  readonly signal: AbortSignal;
  /** Clears the timer; call when the guarded work is over. */
  dispose(): void;
}

/**
 * An AbortSignal that fires with the parent's reason, or with a
 * `TimeoutError` DOMException after `timeoutMs` (or with `reason(message)`
 * when given, e.g. a ConnectError that names which limit passed).
 *
 * Why not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: on Node 20
 * a timeout signal that only `AbortSignal.any()` refers to can be garbage
 * collected before it fires, and then a hung backend hangs the caller
 * forever. A plain timer held here cannot be collected.
 *
 * @example
 * const limit = createTimeoutSignal(context.signal, 5000, "the backend did not answer within 5000 ms");
 * try { await fetch(url, { signal: limit.signal }); } finally { limit.dispose(); }
 */
export function createTimeoutSignal(
  parent: AbortSignal,
  timeoutMs: number,
  message: string,
  reason: (message: string) => unknown = (text) => new DOMException(text, "TimeoutError"),
): TimeoutSignal {
  const controller = new CallAbortController();
  const timer = setTimeout(() => controller.abort(reason(message)), timeoutMs);
  const onAbort = () => {
    clearTimeout(timer);
    controller.abort(parent.reason);
  };
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}
