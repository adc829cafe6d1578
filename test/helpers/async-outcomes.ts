import { ConnectError } from "@connectrpc/connect";

/**
 * Small helpers that turn async outcomes into values tests can assert on:
 * the items of a stream, the items before a stream failed, and the
 * ConnectError a call failed with. Each one fails the test when the outcome
 * is not the expected kind, so a missing error can never pass silently.
 */

/** Every item of an async iterable, in order. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/**
 * The items an async iterable yielded before it failed, and its ConnectError.
 *
 * @example
 * const { items, error } = await collectUntilError(prepared.result);
 * expect(error.code).toBe(Code.Internal);
 */
export async function collectUntilError<T>(iterable: AsyncIterable<T>): Promise<{ items: T[]; error: ConnectError }> {
  const items: T[] = [];
  try {
    for await (const item of iterable) items.push(item);
  } catch (error) {
    if (error instanceof ConnectError) return { items, error };
    throw new Error(`expected a ConnectError, got ${String(error)}`, { cause: error });
  }
  throw new Error(`expected the stream to fail, but it ended after ${items.length} item(s)`);
}

/**
 * The ConnectError a promise rejects with.
 *
 * @example
 * const error = await connectErrorOf(backend.chat(request, call));
 * expect(error.code).toBe(Code.NotFound);
 */
export async function connectErrorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw new Error(`expected a ConnectError, got ${String(error)}`, { cause: error });
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/**
 * The ConnectError a synchronous call throws.
 *
 * @example
 * const error = connectErrorFrom(() => checkChatRequest(request));
 */
export function connectErrorFrom(run: () => unknown): ConnectError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw new Error(`expected a ConnectError, got ${String(error)}`, { cause: error });
  }
  throw new Error("expected a ConnectError, but nothing was thrown");
}
