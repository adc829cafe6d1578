import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { createTypeScriptChecker, defaultCheckerWorkers } from "../../../sandbox/checker/index.js";
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
    // One worker, so the second check waits behind the first.
    const checker = createTypeScriptChecker({ declarations, docs, timeoutMs: 60_000, workers: 1 });
    expect((await checker.check("return 1;")).kind).toBe("ok");
    const running = checker.check(typeLevelDenialOfService);
    const queued = checker.check("return 2;");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await checker.close();
    await expect(running).rejects.toThrow(/closed/);
    await expect(queued).rejects.toThrow(/closed/);
  });

  it("answers a check on a second worker while the first is busy", async () => {
    const checker = createTypeScriptChecker({ declarations, docs, timeoutMs: 60_000, workers: 2 });
    try {
      expect((await checker.check("return 1;")).kind).toBe("ok");
      const slow = checker.check(typeLevelDenialOfService);
      slow.catch(() => undefined);
      // The slow check holds the first worker for far longer than the second takes to start and answer.
      const quick = await Promise.race([
        checker.check('return await gateway.models.getModel({ model: "m" });'),
        slow.then(() => "slow finished first"),
      ]);
      expect(quick).toMatchObject({ kind: "ok" });
      const wrong = await checker.check("return gateway.models.nope;");
      expect(wrong.kind === "diagnostics" && wrong.diagnostics[0]?.code).toBe(2339);
      await checker.close();
      await expect(slow).rejects.toThrow(/closed/);
    } finally {
      await checker.close();
    }
  });

  it("replaces a timed-out worker while the other keeps answering", async () => {
    const checker = createTypeScriptChecker({ declarations, docs, timeoutMs: 1500, workers: 2 });
    try {
      expect((await checker.check("return 1;")).kind).toBe("ok");
      const slow = checker.check(typeLevelDenialOfService);
      const during = await checker.check("return 2;");
      expect(during.kind).toBe("ok");
      expect(await slow).toMatchObject({ kind: "diagnostics", diagnostics: [{ code: "check_timeout" }] });
      // Both workers answer again: two slow checks at once are both cut off, then quick ones pass.
      const [a, b] = await Promise.all([checker.check(typeLevelDenialOfService), checker.check(typeLevelDenialOfService)]);
      expect([a, b]).toMatchObject([
        { kind: "diagnostics", diagnostics: [{ code: "check_timeout" }] },
        { kind: "diagnostics", diagnostics: [{ code: "check_timeout" }] },
      ]);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => checker.check(i % 2 === 0 ? `return ${i};` : "return gateway.nope;")));
      expect(results.map((r) => r.kind)).toEqual(["ok", "diagnostics", "ok", "diagnostics", "ok", "diagnostics"]);
    } finally {
      await checker.close();
    }
  });

  it("sizes the pool for the machine: two workers above two cores, else one", () => {
    expect(defaultCheckerWorkers()).toBe(availableParallelism() > 2 ? 2 : 1);
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
