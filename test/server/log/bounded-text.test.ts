import { describe, expect, it } from "vitest";
import { boundText } from "../../../server/log/bounded-text.js";

describe("boundText", () => {
  it("leaves text within the limit as it is", () => {
    expect(boundText("", 3)).toBe("");
    expect(boundText("abc", 3)).toBe("abc");
  });

  it("keeps the first characters and says how many were left out", () => {
    expect(boundText("abcdef", 3)).toBe("abc… (3 more characters)");
  });

  it("never splits a surrogate pair, so the text stays valid Unicode", () => {
    const cut = boundText("ab😀cd", 3); // "😀" is two UTF-16 units, at 2 and 3
    expect(cut).toBe("ab… (4 more characters)");
    expect(Buffer.from(cut, "utf8").toString("utf8")).toBe(cut); // a lone surrogate would come back as U+FFFD
  });
});
