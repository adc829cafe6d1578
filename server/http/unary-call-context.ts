import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type InFlightEntry, InFlightList } from "../collections/in-flight-list.js";
import { CallAbortController } from "../reliability/call-abort-controller.js";

/** What one call's context is made from. */
export interface UnaryCallInit {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly url: string;
  /** The client's timeout, already checked against the limit. */
  readonly timeoutMs: number | undefined;
  readonly responseContentType: string;
  readonly contextValues: ContextValues;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
}

/** A call's HandlerContext and the means to end it. */
export interface UnaryCall {
  readonly context: HandlerContext;
  /** Aborts the call's signal with `reason` (an error) or, once it completed, with a quiet reason; stops its timer. Idempotent. */
  end(reason?: unknown): void;
}

/** Makes the context of each call; calls still running when the shutdown signal fires are aborted with its reason. */
export type UnaryCallFactory = (init: UnaryCallInit) => UnaryCall;

/** The reason a call's signal is aborted with once it has completed (nothing listens any more; no DOMException needed). */
const callCompleted = new ConnectError("the call has completed", Code.Canceled);

/**
 * Handler contexts for the unary fast path, with one AbortController per
 * call instead of the three that connect's `createHandlerContext` links
 * (deadline, request, shutdown), and one listener on the shutdown signal
 * for all calls instead of one per call.
 *
 * The call's signal aborts as connect's does: at the client's deadline
 * with `deadline_exceeded` ("the operation timed out"), when the client
 * goes away before the answer is complete (an `AbortError`, or `aborted`
 * when the request errored), with the shutdown signal's reason, with the
 * error that ended the call, and — quietly — when the call completed.
 *
 * @example
 * const calls = createUnaryCallFactory(shutdownSignal);
 * const call = calls({ method, service, url, timeoutMs, requestHeader, responseContentType, contextValues, request, response });
 * try { … } finally { call.end(); }
 */
export function createUnaryCallFactory(shutdownSignal: AbortSignal): UnaryCallFactory {
  // Not a Set: see InFlightList for what a Set's churn costs the garbage collector.
  const running = new InFlightList<RunningUnaryCall>();
  shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const call of running.removeAll()) call.abort(shutdownSignal.reason);
    },
    { once: true },
  );
  return (init) => new RunningUnaryCall(init, running, shutdownSignal);
}

/**
 * One call in progress. A class, not closures: the listeners are inline
 * and never removed (a response always closes, and both objects die with
 * the call), so a call costs one object, one AbortController and, with a
 * timeout, one timer.
 */
class RunningUnaryCall implements UnaryCall {
  readonly context: HandlerContext;
  private readonly controller = new CallAbortController();
  private readonly deadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private entry: InFlightEntry | undefined;

  constructor(
    init: UnaryCallInit,
    private readonly running: InFlightList<RunningUnaryCall>,
    shutdownSignal: AbortSignal,
  ) {
    const { request, response, timeoutMs } = init;
    if (shutdownSignal.aborted) this.abort(shutdownSignal.reason);
    else this.entry = running.add(this);
    if (timeoutMs !== undefined) {
      this.deadline = Date.now() + timeoutMs;
      if (timeoutMs <= 0) this.abort(timedOut());
      else this.timer = setTimeout(() => this.abort(timedOut()), timeoutMs);
    }
    request.once("error", (error: Error) => this.abort(new ConnectError(error.message, Code.Aborted, undefined, undefined, error)));
    response.once("close", () => {
      if (!response.writableFinished) this.abort();
    });
    const call = this;
    this.context = {
      method: init.method,
      service: init.service,
      requestMethod: "POST",
      protocolName: "connect",
      url: init.url,
      signal: this.controller.signal,
      timeoutMs() {
        return call.deadline === undefined ? undefined : call.deadline - Date.now();
      },
      requestHeader: webHeaders(request.headers),
      responseHeader: new Headers({ "content-type": init.responseContentType }),
      responseTrailer: new Headers(),
      values: init.contextValues,
    };
  }

  end(reason?: unknown): void {
    this.abort(reason ?? callCompleted);
  }

  /** Aborts the signal once (undefined: an AbortError, as when a client goes away), stops the timer, forgets the call. */
  abort(reason?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (this.entry !== undefined) this.running.remove(this.entry);
    clearTimeout(this.timer);
    this.controller.abort(reason);
  }
}

/** The error of a call whose client deadline passed (connect's own words). */
function timedOut(): ConnectError {
  return new ConnectError("the operation timed out", Code.DeadlineExceeded);
}

/** Node's request headers as WHATWG Headers (a repeated header Node keeps as an array is appended value by value). */
function webHeaders(headers: IncomingMessage["headers"]): Headers {
  const result = new Headers();
  for (const key in headers) {
    const value = headers[key];
    if (typeof value === "string") result.append(key, value);
    else if (value !== undefined) for (const item of value) result.append(key, item);
  }
  return result;
}
