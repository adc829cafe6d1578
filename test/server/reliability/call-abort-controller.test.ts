import { EventEmitter, once } from "node:events";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { CallAbortController } from "../../../server/reliability/call-abort-controller.js";

describe("CallAbortController", () => {
  it("aborts once, with its reason, and calls each listener once", () => {
    const controller = new CallAbortController();
    const seen: unknown[] = [];
    controller.signal.addEventListener("abort", (event) => seen.push([event.type, controller.signal.reason]));
    expect(controller.signal.aborted).toBe(false);
    expect(() => controller.signal.throwIfAborted()).not.toThrow();

    const reason = new Error("deadline passed");
    controller.abort(reason);
    controller.abort(new Error("second"));

    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe(reason);
    expect(seen).toEqual([["abort", reason]]);
    expect(() => controller.signal.throwIfAborted()).toThrow(reason);
  });

  it("aborts with an AbortError DOMException when given no reason, as Node's does", () => {
    const controller = new CallAbortController();
    controller.abort();
    const reason = controller.signal.reason as DOMException;
    expect(reason).toBeInstanceOf(DOMException);
    expect(reason.name).toBe("AbortError");
    // A reason that is explicitly falsy is kept, not replaced.
    const withZero = new CallAbortController();
    withZero.abort(0);
    expect(withZero.signal.reason).toBe(0);
  });

  it("calls onabort with the signal as this, and stops calling a handler set to null", () => {
    const controller = new CallAbortController();
    const calls: unknown[] = [];
    controller.signal.onabort = function (event) {
      calls.push([this, event.type]);
    };
    controller.abort("x");
    expect(calls).toEqual([[controller.signal, "abort"]]);

    const cleared = new CallAbortController();
    cleared.signal.onabort = () => calls.push("must not run");
    cleared.signal.onabort = null;
    cleared.abort("y");
    expect(calls).toHaveLength(1);
  });

  it("skips a removed listener and a once listener's second call", () => {
    const controller = new CallAbortController();
    let removed = 0;
    let onceCalls = 0;
    const listener = () => removed++;
    controller.signal.addEventListener("abort", listener);
    controller.signal.removeEventListener("abort", listener);
    controller.signal.addEventListener("abort", () => onceCalls++, { once: true });
    controller.abort();
    controller.signal.dispatchEvent(new Event("abort"));
    expect(removed).toBe(0);
    expect(onceCalls).toBe(1);
  });

  it("is not a source AbortSignal.any() follows, as its doc says: bridge through a listener instead", () => {
    const controller = new CallAbortController();
    const composite = AbortSignal.any([controller.signal]);
    const bridge = new AbortController();
    controller.signal.addEventListener("abort", () => bridge.abort(controller.signal.reason), { once: true });
    const bridged = AbortSignal.any([bridge.signal]);
    controller.abort("stop");
    // Node aborts a composite signal only from signals it made itself.
    expect(composite.aborted).toBe(false);
    expect(bridged.aborted).toBe(true);
    expect(bridged.reason).toBe("stop");
  });

  it("stops Node's own signal-taking APIs: events.once and timers/promises", async () => {
    const controller = new CallAbortController();
    const waiting = once(new EventEmitter(), "never", { signal: controller.signal });
    const sleeping = delay(60_000, undefined, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
    await expect(sleeping).rejects.toMatchObject({ name: "AbortError" });
  });

  it("stops an http.request given as its signal option, and fetch", async () => {
    const arrived: Array<() => void> = [];
    const server = createServer((_request, response) => arrived.push(() => response.end("late")));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const forHttp = new CallAbortController();
      const failed = new Promise<Error>((resolve) => {
        const outgoing = request({ host: "127.0.0.1", port, path: "/", signal: forHttp.signal, agent: false });
        outgoing.once("error", resolve);
        outgoing.end();
      });
      const forFetch = new CallAbortController();
      const fetched = fetch(`http://127.0.0.1:${port}/`, { signal: forFetch.signal });
      while (arrived.length < 2) await once(server, "request");
      forHttp.abort(new Error("client went away"));
      forFetch.abort(new Error("client went away"));
      expect((await failed).name).toBe("AbortError");
      await expect(fetched).rejects.toMatchObject({ message: "client went away" });
    } finally {
      for (const finish of arrived) finish();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
