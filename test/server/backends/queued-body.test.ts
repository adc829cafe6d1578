import { describe, expect, it } from "vitest";
import type { Http1Exchange } from "../../../server/backends/http1-client.js";
import { QueuedBody } from "../../../server/backends/queued-body.js";

/** An exchange that records what the body asked of it. */
function recordingExchange(): Http1Exchange & { calls: string[] } {
  const calls: string[] = [];
  return { calls, pause: () => calls.push("pause"), resume: () => calls.push("resume"), destroy: () => calls.push("destroy") };
}

const kib = (count: number) => Buffer.alloc(count * 1024, 120);

describe("queued body", () => {
  it("hands on the pieces in order, those that came before the reader and those after", async () => {
    const exchange = recordingExchange();
    const body = new QueuedBody(exchange);
    body.onBody(Buffer.from("a"));
    const reader = body[Symbol.asyncIterator]();
    expect(await reader.next()).toEqual({ done: false, value: Buffer.from("a") });
    const waiting = reader.next();
    body.onBody(Buffer.from("b"));
    body.onEnd();
    expect(await waiting).toEqual({ done: false, value: Buffer.from("b") });
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    expect(exchange.calls).toEqual([]);
  });

  it("pauses the connection past 64 KiB unread, and resumes it once the reader is down to half", async () => {
    const exchange = recordingExchange();
    const body = new QueuedBody(exchange);
    for (let index = 0; index < 5; index++) body.onBody(kib(16));
    expect(exchange.calls).toEqual(["pause"]);
    const reader = body[Symbol.asyncIterator]();
    await reader.next(); // 64 KiB left
    await reader.next(); // 48 KiB left
    expect(exchange.calls).toEqual(["pause"]);
    await reader.next(); // 32 KiB left
    expect(exchange.calls).toEqual(["pause", "resume"]);
  });

  it("gives the reader the pieces before a failure, then the failure", async () => {
    const body = new QueuedBody(recordingExchange());
    body.onBody(Buffer.from("partial"));
    body.onError(new Error("reset"));
    const reader = body[Symbol.asyncIterator]();
    expect(await reader.next()).toEqual({ done: false, value: Buffer.from("partial") });
    await expect(reader.next()).rejects.toThrow("reset");
  });

  it("closes the connection when the reader stops early, and not once the body has ended", async () => {
    const early = recordingExchange();
    const unfinished = new QueuedBody(early);
    unfinished.onBody(Buffer.from("data: 1\n"));
    for await (const chunk of unfinished) {
      expect(chunk.length).toBe(8);
      break;
    }
    expect(early.calls).toEqual(["destroy"]);

    const late = recordingExchange();
    const finished = new QueuedBody(late);
    finished.onBody(Buffer.from("x"));
    finished.onEnd();
    for await (const chunk of finished) {
      expect(chunk.length).toBe(1);
      break;
    }
    expect(late.calls).toEqual([]);
  });
});
