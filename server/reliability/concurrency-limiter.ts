import { Code, ConnectError } from "@connectrpc/connect";
import { InFlightList } from "../collections/in-flight-list.js";

/** Gives a slot back. Calling it more than once does nothing. */
export type Release = () => void;

/** The timer functions the limiter uses for queue timeouts; injectable for tests. */
export interface LimiterTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The limiter's gauges at one moment. */
export interface LimiterGauges {
  readonly inFlight: number;
  readonly queued: number;
}

/** Options of createConcurrencyLimiter. */
export interface ConcurrencyLimiterOptions {
  /** Calls that may run at once (at least 1). */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot (0 = none wait; over-limit calls are rejected at once). */
  readonly maxQueue: number;
  /** Longest wait in the queue, in milliseconds; unbounded when absent. */
  readonly queueTimeoutMs?: number;
  /** The backend's id, for error messages (default "backend"). */
  readonly name?: string;
  /**
   * The retry hint attached to a rejection, in milliseconds (default: the
   * queue timeout, or 1000 without one).
   */
  readonly retryAfterHintMs?: number;
  /** Timer functions (default: the global ones, unref'd). */
  readonly timers?: LimiterTimers;
  /** Called after every change of the gauges, e.g. to set `protogate_queue_depth`. */
  readonly onChange?: (gauges: LimiterGauges) => void;
}

/**
 * Bounds the concurrent calls to one backend, with a bounded FIFO queue in
 * front. Local LLM servers have a fixed number of slots; queueing beyond
 * them in the backend only adds latency nobody can see, so the gateway
 * queues visibly and sheds load early.
 */
export interface ConcurrencyLimiter {
  /**
   * Takes a slot: resolves at once under the limit, otherwise waits in
   * FIFO order. Rejects with `resource_exhausted` when the queue is full or
   * the wait exceeds `queueTimeoutMs`, and with the signal's reason when
   * `signal` aborts while waiting (a ConnectError as is, a `TimeoutError`
   * as `deadline_exceeded`, anything else as `canceled`); the waiter leaves
   * the queue at once. The caller must call the returned Release when done.
   */
  acquire(signal: AbortSignal): Promise<Release>;
  /**
   * Takes a free slot at once: its Release, or undefined when every slot
   * is taken (then `acquire` waits for one). Lets a caller that usually
   * finds a slot skip the promise and the signal a wait needs.
   */
  tryAcquire(): Release | undefined;
  /** Calls holding a slot. */
  inFlight(): number;
  /** Calls waiting for a slot. */
  queued(): number;
}

/** The metadata key that carries the retry hint in milliseconds. */
export const retryAfterMsHeader = "retry-after-ms";

/**
 * Creates a concurrency limiter for one backend.
 *
 * A rejection is a ConnectError `resource_exhausted` whose message says the
 * backend is at capacity. Neither `@bufbuild/protobuf/wkt` nor connect-es
 * ships `google.rpc.RetryInfo`, and the contract gets no new message for
 * this, so the hint travels as error metadata: `retry-after-ms` (integer
 * milliseconds) and `retry-after` (whole seconds, rounded up, as in HTTP).
 * Connect sends error metadata as response headers (unary) or trailers
 * (streams and gRPC); `retryAfterMsOf()` reads it back.
 *
 * @example
 * const limiter = createConcurrencyLimiter({ name: "llama", maxConcurrent: 4, maxQueue: 32, queueTimeoutMs: 10_000 });
 * const release = await limiter.acquire(context.signal);
 * try { return await backend.chat(request, options); } finally { release(); }
 */
export function createConcurrencyLimiter(options: ConcurrencyLimiterOptions): ConcurrencyLimiter {
  if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
    throw new RangeError(`maxConcurrent must be a positive integer, got ${options.maxConcurrent}`);
  }
  if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) {
    throw new RangeError(`maxQueue must be a non-negative integer, got ${options.maxQueue}`);
  }
  const name = options.name ?? "backend";
  const timers = options.timers ?? defaultTimers;
  const retryAfterHintMs = Math.max(0, Math.round(options.retryAfterHintMs ?? options.queueTimeoutMs ?? 1000));

  interface Waiter {
    readonly grant: (release: Release) => void;
    readonly fail: (error: unknown) => void;
  }
  // Oldest first (FIFO); not a Set, whose churn keeps dead waiters alive for the garbage collector (see InFlightList).
  const waiters = new InFlightList<Waiter>();
  let running = 0;

  function changed(): void {
    options.onChange?.({ inFlight: running, queued: waiters.size });
  }

  function makeRelease(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiters.shift();
      if (next === undefined) {
        running -= 1;
      } else {
        // Hand the slot straight to the oldest waiter; `running` is unchanged.
        next.grant(makeRelease());
      }
      changed();
    };
  }

  function capacityError(why: string): ConnectError {
    return new ConnectError(
      `backend "${name}" is at capacity (${why}); retry after about ${retryAfterHintMs} ms`,
      Code.ResourceExhausted,
      {
        [retryAfterMsHeader]: String(retryAfterHintMs),
        "retry-after": String(Math.ceil(retryAfterHintMs / 1000)),
      },
    );
  }

  // Under the limit nobody waits: a released slot goes straight to the oldest waiter.
  function tryAcquire(): Release | undefined {
    if (running >= options.maxConcurrent) return undefined;
    running += 1;
    changed();
    return makeRelease();
  }

  return {
    tryAcquire,
    acquire(signal) {
      if (signal.aborted) return Promise.reject(abortReason(signal.reason));
      const free = tryAcquire();
      if (free !== undefined) return Promise.resolve(free);
      if (waiters.size >= options.maxQueue) {
        return Promise.reject(
          capacityError(`${running} in flight, ${waiters.size} queued, queue full`),
        );
      }
      return new Promise<Release>((resolve, reject) => {
        let timer: unknown;
        const settle = () => {
          waiters.remove(entry);
          signal.removeEventListener("abort", onAbort);
          if (timer !== undefined) timers.clearTimeout(timer);
        };
        const waiter: Waiter = {
          grant(release) {
            settle();
            resolve(release);
          },
          fail(error) {
            settle();
            reject(error);
            changed();
          },
        };
        const onAbort = () => waiter.fail(abortReason(signal.reason));
        const entry = waiters.add(waiter);
        signal.addEventListener("abort", onAbort, { once: true });
        if (options.queueTimeoutMs !== undefined) {
          const timeoutMs = options.queueTimeoutMs;
          timer = timers.setTimeout(
            () => waiter.fail(capacityError(`no slot freed within the ${timeoutMs} ms queue timeout`)),
            timeoutMs,
          );
        }
        changed();
      });
    },
    inFlight: () => running,
    queued: () => waiters.size,
  };
}

/**
 * The retry hint of a limiter rejection (or any ConnectError carrying
 * `retry-after-ms` metadata), in milliseconds; undefined when absent.
 */
export function retryAfterMsOf(error: unknown): number | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  const value = error.metadata.get(retryAfterMsHeader);
  if (value === null) return undefined;
  const ms = Number(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** A ConnectError reason (connect's deadline, shutdown) as is; a timeout as deadline_exceeded; anything else as canceled. */
function abortReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new ConnectError("the deadline passed while waiting for a backend slot", Code.DeadlineExceeded, undefined, undefined, reason);
  }
  return new ConnectError("request canceled while waiting for a backend slot", Code.Canceled, undefined, undefined, reason);
}

const defaultTimers: LimiterTimers = {
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout); // only handles made by setTimeout above reach here
  },
};
