import { describe, expect, it } from "vitest";
import { createToolCallBudget } from "../../../server/backends/tool-call-budget.js";
import { UpstreamError } from "../../../server/backends/upstream-failure.js";

describe("tool-call budget", () => {
  it("allows text up to the limit, across pieces and calls, and ignores absent pieces", () => {
    const budget = createToolCallBudget(10);
    budget.spend("abcd");
    budget.spend(undefined);
    budget.spend("");
    budget.spend("efghij");
  });

  it("fails as a protocol failure naming the limit and its setting once the total passes it", () => {
    const budget = createToolCallBudget(10);
    budget.spend("0123456789");
    let thrown: unknown;
    try {
      budget.spend("x");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UpstreamError);
    expect((thrown as UpstreamError).failure).toEqual({
      kind: "protocol",
      detail: "the answer's tool calls are longer than 10 characters (limits.maxBackendResponseBytes)",
    });
  });

  it("counts characters, so a multi-byte text counts once per character", () => {
    const budget = createToolCallBudget(3);
    budget.spend("äöü");
    expect(() => budget.spend("é")).toThrow(UpstreamError);
  });
});
