import { describe, expect, it } from "vitest";
import { defaultMaxConnections } from "../../../server/http/connection-limit.js";

/** /proc/self/limits with this soft limit of open files. */
const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            ${soft.padEnd(20)} 1048576              files
Max locked memory         8388608              8388608              bytes
`;

describe("defaultMaxConnections", () => {
  it("is three quarters of the soft open-file limit", () => {
    expect(defaultMaxConnections(() => limits("1024"))).toBe(768);
    expect(defaultMaxConnections(() => limits("20000"))).toBe(15_000);
  });

  it("is at least 64", () => {
    expect(defaultMaxConnections(() => limits("40"))).toBe(64);
  });

  it("falls back to 4096 when the limit is unlimited or cannot be read", () => {
    expect(defaultMaxConnections(() => limits("unlimited"))).toBe(4096);
    expect(defaultMaxConnections(() => "no such line")).toBe(4096);
    expect(
      defaultMaxConnections(() => {
        throw new Error("ENOENT: no /proc here");
      }),
    ).toBe(4096);
  });

  it("reads this process's limit on Linux", () => {
    expect(defaultMaxConnections()).toBeGreaterThanOrEqual(64);
  });
});
