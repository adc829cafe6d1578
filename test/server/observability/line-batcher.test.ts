import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FlushableDestination, createLineBatcher } from "../../../server/observability/line-batcher.js";

/** A sink that records what it is given and asked. */
function recordingSink() {
  const events: string[] = [];
  const sink: FlushableDestination = {
    write(text: string) {
      events.push(`write ${JSON.stringify(text)}`);
      return true;
    },
    flush(callback) {
      events.push(`flush ${callback === undefined ? "without" : "with"} callback`);
      callback?.();
    },
    flushSync() {
      events.push("flushSync");
    },
  };
  return { sink, events };
}

describe("createLineBatcher", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("holds lines until a batch has batchChars characters, then hands them on as one string, in order", () => {
    const { sink, events } = recordingSink();
    const batcher = createLineBatcher(sink, { batchChars: 10, flushIntervalMs: 100 });
    batcher.write("abc\n");
    batcher.write("def\n");
    expect(events).toEqual([]);
    batcher.write("gh\n");
    expect(events).toEqual(['write "abc\\ndef\\ngh\\n"']);
    batcher.write("ijklmnopqrst\n");
    expect(events).toEqual(['write "abc\\ndef\\ngh\\n"', 'write "ijklmnopqrst\\n"']);
  });

  it("hands on what it holds every flushIntervalMs, and nothing when it holds nothing", () => {
    const { sink, events } = recordingSink();
    const batcher = createLineBatcher(sink, { batchChars: 1000, flushIntervalMs: 100 });
    batcher.write("one\n");
    vi.advanceTimersByTime(99);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['write "one\\n"']);
    vi.advanceTimersByTime(500);
    expect(events).toEqual(['write "one\\n"']);
  });

  it("flush and flushSync hand on the held lines before asking the sink to write", () => {
    const { sink, events } = recordingSink();
    const batcher = createLineBatcher(sink, { batchChars: 1000, flushIntervalMs: 100 });
    batcher.write("a\n");
    const done = vi.fn();
    batcher.flush(done);
    batcher.write("b\n");
    batcher.flushSync();
    expect(events).toEqual(['write "a\\n"', "flush with callback", 'write "b\\n"', "flushSync"]);
    expect(done).toHaveBeenCalledOnce();
  });

  it("counts characters, so a batch of multi-byte lines is handed on at the same line count", () => {
    const { sink, events } = recordingSink();
    const batcher = createLineBatcher(sink, { batchChars: 4, flushIntervalMs: 100 });
    batcher.write("é\n");
    expect(events).toEqual([]);
    batcher.write("ü\n");
    expect(events).toEqual(['write "é\\nü\\n"']);
  });
});
