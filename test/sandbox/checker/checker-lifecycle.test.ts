import { describe, expect, it } from "vitest";
import { createTypeScriptChecker } from "../../../sandbox/checker/index.js";
import { declarations, docs } from "./sdk-fixture.js";

/**
 * Each statement makes TypeScript spend its whole per-statement budget of
 * type instantiations (about a second each here), so together they keep
 * the checker busy far past any sensible limit.
 */
const typeLevelDenialOfService = [
  'type Build<N extends number, A extends unknown[] = []> = A["length"] extends N ? A : Build<N, [...A, A["length"]]>;',
  "type Spread<T extends unknown[]> = T extends [infer H, ...infer R] ? [H, ...Spread<R>] : [];",
  ...Array.from({ length: 30 }, (_, i) => `const a${i}: Spread<Build<${990 - i}>>["length"] = ${990 - i};`),
  "return 1;",
].join("\n");

// Each test starts its own worker (TypeScript loads in seconds on a busy machine).
describe("the checker's worker", { timeout: 90_000 }, () => {
  it("cuts off a type-level denial of service, then checks again", async () => {
    const checker = createTypeScriptChecker({ declarations, docs, timeoutMs: 1500 });
    try {
      expect((await checker.check("return 1;")).kind).toBe("ok");
      const started = Date.now();
      const slow = await checker.check(typeLevelDenialOfService);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(slow).toMatchObject({
        kind: "diagnostics",
        diagnostics: [{ line: 1, column: 1, code: "check_timeout" }],
      });
      if (slow.kind === "diagnostics") {
        expect(slow.diagnostics[0]?.message).toBe("The type check took longer than 1500 ms and was stopped.");
        expect(slow.diagnostics[0]?.help).toContain("recursive");
      }
      const again = await checker.check('return await gateway.models.getModel({ model: "m" });');
      expect(again.kind).toBe("ok");
      const wrong = await checker.check("return gateway.models.nope;");
      expect(wrong.kind).toBe("diagnostics");
    } finally {
      await checker.close();
    }
  });

  it("rejects a check that is running when the checker is closed", async () => {
    const checker = createTypeScriptChecker({ declarations, docs, timeoutMs: 60_000 });
    expect((await checker.check("return 1;")).kind).toBe("ok");
    const running = checker.check(typeLevelDenialOfService);
    const queued = checker.check("return 2;");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await checker.close();
    await expect(running).rejects.toThrow(/closed/);
    await expect(queued).rejects.toThrow(/closed/);
  });

  it("rejects checks after close", async () => {
    const checker = createTypeScriptChecker({ declarations, docs });
    await checker.close();
    await expect(checker.check("return 1;")).rejects.toThrow(/closed/);
  });

  it("rejects checks when the declarations do not type-check", async () => {
    const checker = createTypeScriptChecker({ declarations: "declare const gateway: Nope;", docs });
    try {
      await expect(checker.check("return 1;")).rejects.toThrow(/declarations do not type-check.*Cannot find name 'Nope'/);
    } finally {
      await checker.close();
    }
  });

  it("works with other declarations (operator services generated at start-up)", async () => {
    const checker = createTypeScriptChecker({
      declarations: "/** Echo. */\ninterface EchoService {\n  /** Says it back. */\n  say(request: { text: string }): Promise<{ text: string }>;\n}\ndeclare const gateway: { readonly echo: EchoService };\n",
      docs: { version: 1, entries: [] },
    });
    try {
      expect((await checker.check('return (await gateway.echo.say({ text: "hi" })).text;')).kind).toBe("ok");
      const result = await checker.check('return gateway.echo.shout({ text: "hi" });');
      expect(result.kind === "diagnostics" && result.diagnostics[0]?.help).toContain("- say(request: { text: string }): Promise<{ text: string }> — Says it back.");
    } finally {
      await checker.close();
    }
  });
});
