/**
 * An AbortController for the signals made once per request: a call's
 * context signal and an attempt's time limit.
 *
 * Why not Node's AbortController: on Node 20 every AbortSignal it makes
 * gets a hidden class (V8 map) of its own, because Node builds the signal
 * as an EventTarget, swaps its prototype and then adds fields (Node 22
 * no longer does; nodejs/node#52408). Measured (bench/hidden-classes.ts,
 * docs/benchmarks.md): such a signal outlives the scavenges that should
 * free it (about 330 bytes promoted to the old generation each), a
 * make-listen-abort cycle takes 10–12 µs against 0.5–0.8 µs here, and the
 * inline caches that see signals go megamorphic. A class of our own keeps
 * one hidden class for all its signals.
 *
 * What it gives up: `AbortSignal.any()` with this signal as a source
 * never fires (Node aborts a composite signal only from signals it made),
 * and it is not `instanceof AbortSignal`. Everything else that takes a
 * signal and listens for "abort" — `events.once`, `timers/promises`,
 * `http.request({ signal })`, `fetch` — works with it. Where a signal
 * must go into `AbortSignal.any()`, make a Node AbortController and abort
 * it from this signal's "abort" event.
 *
 * @example
 * const controller = new CallAbortController();
 * controller.signal.addEventListener("abort", () => stop(controller.signal.reason), { once: true });
 * controller.abort(new ConnectError("deadline passed", Code.DeadlineExceeded));
 */
export class CallAbortController {
  readonly signal: CallAbortSignal = new CallAbortSignal();

  /** Aborts the signal once; later calls do nothing. With no reason, an `AbortError` DOMException, as Node's does. */
  abort(reason?: unknown): void {
    abortCallSignal(this.signal, reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason);
  }
}

/** Set by `CallAbortController.abort`; a module-private key so no one else can abort a signal. */
let abortCallSignal: (signal: CallAbortSignal, reason: unknown) => void;

/** The signal of a CallAbortController: an EventTarget with AbortSignal's members. */
export class CallAbortSignal extends EventTarget implements AbortSignal {
  #aborted = false;
  #reason: unknown = undefined;
  #onabort: ((this: AbortSignal, event: Event) => unknown) | null = null;
  /** The listener that calls `onabort`, added the first time it is set (where a handler attribute sits among listeners). */
  #handlerListener: ((event: Event) => void) | undefined;

  static {
    abortCallSignal = (signal, reason) => signal.#abort(reason);
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  get onabort(): ((this: AbortSignal, event: Event) => unknown) | null {
    return this.#onabort;
  }

  set onabort(handler: ((this: AbortSignal, event: Event) => unknown) | null) {
    this.#onabort = typeof handler === "function" ? handler : null;
    if (this.#onabort !== null && this.#handlerListener === undefined) {
      this.#handlerListener = (event) => this.#onabort?.call(this, event);
      this.addEventListener("abort", this.#handlerListener);
    }
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  #abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.dispatchEvent(new Event("abort"));
  }
}
