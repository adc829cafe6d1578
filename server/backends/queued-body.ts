import type { Http1Exchange, Http1ExchangeHandlers } from "./http1-client.js";

/**
 * How much of a body waits unread before the connection is paused: a
 * stream read more slowly than the backend writes it (a slow client of a
 * ChatStream) holds the backend back instead of filling the gateway's
 * memory.
 */
const highWaterMark = 64 * 1024;

/**
 * A 2xx answer's body that arrives before, and while, it is read: the
 * exchange hands its pieces here, and they queue until the reader takes them as an async iterable (one
 * reader). Past `highWaterMark` unread bytes the connection is paused;
 * a reader that stops early (`return`, e.g. `break` in `for await`) closes
 * the connection, so the backend stops generating.
 *
 * @example
 * const body = new QueuedBody(exchange); // the exchange's body handlers
 * for await (const chunk of body) process(chunk);
 */
export class QueuedBody implements AsyncIterable<Uint8Array>, Omit<Http1ExchangeHandlers, "onHead"> {
  readonly #exchange: Http1Exchange;
  readonly #chunks: Buffer[] = [];
  #queuedBytes = 0;
  #paused = false;
  #ended = false;
  #error: { readonly reason: unknown } | undefined;
  #wake: (() => void) | undefined;

  constructor(exchange: Http1Exchange) {
    this.#exchange = exchange;
  }

  /** A piece of the body from the connection. */
  onBody(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#queuedBytes += chunk.length;
    if (!this.#paused && this.#queuedBytes > highWaterMark) {
      this.#paused = true;
      this.#exchange.pause();
    }
    this.#wakeReader();
  }

  /** The body is complete. */
  onEnd(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The body failed; the reader gets `reason` once the pieces before it are read. */
  onError(reason: unknown): void {
    this.#error = { reason };
    this.#wakeReader();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#next(),
      return: () => {
        if (!this.#ended && this.#error === undefined) this.#exchange.destroy();
        this.#ended = true;
        this.#chunks.length = 0;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) {
        this.#queuedBytes -= chunk.length;
        if (this.#paused && this.#queuedBytes <= highWaterMark / 2) {
          this.#paused = false;
          this.#exchange.resume();
        }
        return { done: false, value: chunk };
      }
      if (this.#error !== undefined) throw this.#error.reason;
      if (this.#ended) return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
