/**
 * One isolate run in this process, without the pool or IPC: what the child
 * does between a "run" message and its "done".
 */
import ivm from "isolated-vm";
import { describe, expect, it } from "vitest";
import { prepareAgentCode } from "../../../sandbox/executor/agent-code.js";
import { startIsolateRun } from "../../../sandbox/executor/child/isolate-run.js";
import type { ChildLimits } from "../../../sandbox/executor/protocol.js";
import { defaultExecutionLimits } from "../../../sandbox/executor/types.js";

const limits: ChildLimits = { ...defaultExecutionLimits, wallTimeMs: 1000, maxLogLines: 3 };

function js(code: string): string {
  const prepared = prepareAgentCode(code);
  if (prepared.kind !== "ok") throw new Error(prepared.error.message);
  return prepared.js;
}

function recorder() {
  const events: string[] = [];
  const calls: { callId: number; service: string; method: string; requestJson: string }[] = [];
  return {
    events,
    calls,
    output: {
      log: (level: string, text: string) => events.push(`${level}:${text}`),
      logsDropped: () => events.push("dropped"),
      sdkCall: (callId: number, service: string, method: string, requestJson: string) => {
        calls.push({ callId, service, method, requestJson });
      },
    },
  };
}

describe("isolate run", () => {
  it("forwards SDK calls as strings and resumes the guest with the answer", async () => {
    const out = recorder();
    const run = startIsolateRun(
      ivm,
      { js: js('const a = await gateway.models.getModel({ model: "x" });\nreturn a.name + "!";'), services: { models: ["getModel"] }, limits },
      {
        ...out.output,
        sdkCall: (callId, service, method, requestJson) => {
          out.output.sdkCall(callId, service, method, requestJson);
          run.deliver(callId, ["ok", JSON.stringify({ name: "x" })]);
        },
      },
    );
    expect(await run.outcome).toEqual({ kind: "ok", returnJson: '"x!"' });
    expect(out.calls).toEqual([{ callId: 1, service: "models", method: "getModel", requestJson: '{"model":"x"}' }]);
  });

  it("ignores answers for calls it never made", async () => {
    const out = recorder();
    const run = startIsolateRun(ivm, { js: js("await new Promise(() => {});"), services: {}, limits: { ...limits, wallTimeMs: 200 } }, out.output);
    run.deliver(7, ["ok", "{}"]);
    expect(await run.outcome).toMatchObject({ kind: "limit", limit: "wall-time" });
  });

  it("sends each kept line once and the drop notice once", async () => {
    const out = recorder();
    const run = startIsolateRun(ivm, { js: js('for (let i = 0; i < 10; i++) console.log(i);\nreturn 1;'), services: {}, limits }, out.output);
    expect(await run.outcome).toEqual({ kind: "ok", returnJson: "1" });
    expect(out.events).toEqual(["log:0", "log:1", "log:2", "dropped"]);
  });

  it("cancel disposes the isolate of a runaway at once", async () => {
    const out = recorder();
    const run = startIsolateRun(
      ivm,
      { js: js("for (;;) {}"), services: {}, limits: { ...limits, wallTimeMs: 60_000 } },
      {
        ...out.output,
        log: () => undefined,
      },
    );
    const started = performance.now();
    queueMicrotask(() => run.cancel());
    expect(await run.outcome).toEqual({ kind: "canceled" });
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
