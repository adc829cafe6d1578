import { describe, expect, it } from "vitest";
import { parseGcLine, summarizeBusiestIsolate } from "../../bench/gc-trace.js";

// Lines as Node 20's V8 prints them with --trace-gc-nvp (cut: the real lines carry ~60 more fields).
const mainScavenge =
  "[10643:0x87b23d0]    16284 ms: pause=4.6 mutator=301.2 gc=s reduce_memory=0 time_to_safepoint=0.00 fast_promote=0.00 " +
  "scavenge=4.41 total_size_before=103681272 total_size_after=101770040 allocated=14751496 promoted=1681464 new_space_survived=1994080 promotion_rate=90.3%";
const mainMarkCompact =
  "[10643:0x87b23d0]    17012 ms: pause=6.8 mutator=610.2 gc=mc reduce_memory=0 time_to_safepoint=0.00 heap.prologue=0.00 mark=1.8 evacuate=4.2";
const workerScavenge = "[10643:0x7f589c000f00]    16300 ms: pause=0.9 mutator=12.0 gc=s reduce_memory=0 promoted=4096 new_space_survived=8192";

describe("--trace-gc-nvp lines", () => {
  it("reads a scavenge's isolate, pause and promoted bytes", () => {
    expect(parseGcLine(mainScavenge)).toEqual({ isolate: "0x87b23d0", kind: "scavenge", pauseMs: 4.6, promotedBytes: 1_681_464 });
  });

  it("reads a full mark-compact, which promotes nothing", () => {
    expect(parseGcLine(mainMarkCompact)).toEqual({ isolate: "0x87b23d0", kind: "mark-compact", pauseMs: 6.8, promotedBytes: 0 });
  });

  it("ignores the program's own output mixed in with the trace", () => {
    expect(parseGcLine("protogate listening on http://127.0.0.1:7070 (1 backend(s), 1 model(s))")).toBeUndefined();
    expect(parseGcLine('{"level":"info","time":"2026-11-27T10:44:00.509Z","msg":"request","duration_ms":0.8}')).toBeUndefined();
    expect(parseGcLine("[10643:0x87b23d0]    16284 ms: Scavenge 161.9 (183.7) -> 151.7 (185.4) MB, 3.86 / 0.01 ms")).toBeUndefined();
  });

  it("sums the isolate that collected most, leaving a worker's collections out", () => {
    const events = [mainScavenge, workerScavenge, mainScavenge, mainMarkCompact].map((line) => parseGcLine(line)).filter((event) => event !== undefined);
    expect(summarizeBusiestIsolate(events)).toEqual({
      scavenges: 2,
      scavengePauseMs: 9.2,
      promotedBytes: 2 * 1_681_464,
      markCompacts: 1,
      markCompactPauseMs: 6.8,
    });
  });

  it("sums nothing when there were no collections", () => {
    expect(summarizeBusiestIsolate([])).toEqual({ scavenges: 0, scavengePauseMs: 0, promotedBytes: 0, markCompacts: 0, markCompactPauseMs: 0 });
  });
});
