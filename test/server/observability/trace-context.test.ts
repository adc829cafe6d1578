import { describe, expect, it } from "vitest";
import {
  childSpan,
  formatTraceparent,
  isSampled,
  parseTraceparent,
  upstreamTraceHeaders,
} from "../../../server/observability/index.js";
import { seededBytes } from "../reliability/test-doubles.js";

// Examples from the W3C Trace Context recommendation.
const specSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const specNotSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";

describe("parseTraceparent", () => {
  it("parses the spec's examples", () => {
    expect(parseTraceparent(specSampled)).toEqual({ traceId, spanId: "00f067aa0ba902b7", flags: 1 });
    expect(parseTraceparent(specNotSampled)).toEqual({ traceId, spanId: "00f067aa0ba902b7", flags: 0 });
    expect(isSampled(parseTraceparent(specSampled) ?? { traceId, spanId: "1", flags: 0 })).toBe(true);
    expect(parseTraceparent(`  ${specSampled}\t`)).toEqual({ traceId, spanId: "00f067aa0ba902b7", flags: 1 });
  });

  it("accepts a future version with extra fields, parsed as version 00", () => {
    expect(parseTraceparent(`cc-${traceId}-00f067aa0ba902b7-01-what-the-future-will-be-like`)).toEqual({
      traceId,
      spanId: "00f067aa0ba902b7",
      flags: 1,
    });
    expect(parseTraceparent(`01-${traceId}-00f067aa0ba902b7-09`)).toEqual({ traceId, spanId: "00f067aa0ba902b7", flags: 9 });
  });

  it("rejects invalid values", () => {
    const invalid = [
      undefined,
      null,
      "",
      "garbage",
      `ff-${traceId}-00f067aa0ba902b7-01`, // forbidden version
      `00-00000000000000000000000000000000-00f067aa0ba902b7-01`, // all-zero trace id
      `00-${traceId}-0000000000000000-01`, // all-zero parent id
      `00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01`, // uppercase
      `00-${traceId}-00f067aa0ba902b7-01-extra`, // version 00 must be exactly 55 chars
      `cc-${traceId}-00f067aa0ba902b7-01x`, // a longer future version needs a dash after the flags
      `00-${traceId.slice(1)}-00f067aa0ba902b7-01`, // short trace id
      `00-${traceId}-00f067aa0ba902b-701`, // misplaced dash
      `00_${traceId}-00f067aa0ba902b7-01`,
      `00-${traceId}-00f067aa0ba902b7-0g`,
      `0g-${traceId}-00f067aa0ba902b7-01`,
    ];
    for (const value of invalid) expect({ value, parsed: parseTraceparent(value) }).toEqual({ value, parsed: undefined });
  });
});

describe("formatTraceparent and childSpan", () => {
  it("round-trips the spec example", () => {
    const parsed = parseTraceparent(specSampled);
    expect(parsed && formatTraceparent(parsed)).toBe(specSampled);
    expect(formatTraceparent({ traceId, spanId: "00f067aa0ba902b7", flags: 0 })).toBe(specNotSampled);
  });

  it("keeps the trace and the sampled flag, with a fresh span id, deterministically from the random source", () => {
    const parent = parseTraceparent(specSampled);
    const child = childSpan(parent, seededBytes(1));
    expect(child.traceId).toBe(traceId);
    expect(child.flags).toBe(1);
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child.spanId).not.toBe("00f067aa0ba902b7");
    expect(childSpan(parent, seededBytes(1))).toEqual(child);
    expect(childSpan(parent, seededBytes(2)).spanId).not.toBe(child.spanId);
    expect(parseTraceparent(formatTraceparent(child))).toEqual(child);
    // Flags beyond sampled and random-trace-id are not forwarded on version 00.
    expect(childSpan({ traceId, spanId: "00f067aa0ba902b7", flags: 0xff }, seededBytes(1)).flags).toBe(3);
  });

  it("starts a new trace without a parent, not sampled unless asked", () => {
    const root = childSpan(undefined, seededBytes(3));
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(root.flags).toBe(0);
    expect(childSpan(undefined, seededBytes(3), { sampled: true }).flags).toBe(1);
  });

  it("never produces an all-zero id, even from a broken random source", () => {
    const zeros = (size: number) => new Uint8Array(size);
    const root = childSpan(undefined, zeros);
    expect(root.traceId).toBe(`${"0".repeat(31)}1`);
    expect(root.spanId).toBe(`${"0".repeat(15)}1`);
    expect(parseTraceparent(formatTraceparent(root))).toEqual(root);
  });
});

describe("upstreamTraceHeaders", () => {
  it("forwards tracestate only with a valid traceparent", () => {
    const valid = upstreamTraceHeaders({ traceparent: specSampled, tracestate: "congo=t61rcWkgMzE" }, seededBytes(4));
    expect(valid.parent).toEqual({ traceId, spanId: "00f067aa0ba902b7", flags: 1 });
    expect(valid.headers.tracestate).toBe("congo=t61rcWkgMzE");
    expect(valid.headers.traceparent).toBe(formatTraceparent(valid.upstream));
    expect(valid.headers.traceparent?.startsWith(`00-${traceId}-`)).toBe(true);

    const invalid = upstreamTraceHeaders({ traceparent: "nonsense", tracestate: "congo=t61rcWkgMzE" }, seededBytes(4));
    expect(invalid.parent).toBeUndefined();
    expect(Object.keys(invalid.headers)).toEqual(["traceparent"]);
    expect(invalid.upstream.traceId).not.toBe(traceId);
  });
});
