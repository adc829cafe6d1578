import { describe, expect, it } from "vitest";
import { forTerminal } from "../../cli/terminal-text.js";

/** Characters a terminal would act on, other than tab and newline. */
const acted = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("forTerminal", () => {
  it("leaves nothing a terminal acts on in what a hostile model or backend sends", () => {
    const attacks = [
      "\u001b[2J\u001b[H", // clear the screen
      "\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007", // OSC 52: write the clipboard
      "\u001b]0;pwned\u0007", // retitle the window
      "rm -rf ~/safe\rls", // overwrite the line just shown
      "\u009b31m", // 8-bit CSI
      "bell\u0007 backspace\b del\u007f nul\u0000",
    ];
    for (const attack of attacks) expect(forTerminal(attack)).not.toMatch(acted);
    expect(forTerminal("\u001b]52;c;eA==\u0007")).toBe("\\u001b]52;c;eA==\\u0007");
    expect(forTerminal("rm -rf ~/safe\rls")).toBe("rm -rf ~/safels");
  });

  it("keeps ordinary text, newlines, tabs and JSON exactly", () => {
    const json = String.raw`{"10":1,"2":1.0,"s":"é😀\"\\n\t"}`;
    for (const text of ["Hello, world.\n\tindented\n", json, "Ünïcödé ✓ 😀"]) expect(forTerminal(text)).toBe(text);
    expect(forTerminal("a\r\nb")).toBe("a\nb");
  });
});
