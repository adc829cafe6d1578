import { describe, expect, it } from "vitest";
import { median } from "../../bench/load-generator.js";

// bench:gateway's per-round verdict is a median of a handful of ratios: an even count must not pick one side.
describe("median", () => {
  it("takes the middle of an odd count and the mean of the two middle values of an even one, in any order", () => {
    expect(median([5.13, 3.96, 5.92])).toBe(5.13);
    expect(median([5.15, 5.92, 3.96, 4.91, 5.13, 4.38])).toBeCloseTo(5.02, 10);
    expect(median([2])).toBe(2);
    expect(median([])).toBeNaN();
  });
});
