import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelService } from "../../../gen/protogate/v1/model_service_pb.js";
import { embeddedSandboxSettings } from "../../../server/config/sandbox-settings.js";
import { silentLogger } from "../../../server/log/logger.js";
import {
  createGatewaySandbox,
  createSandboxSdk,
  type GatewaySandbox,
  loadGatewayDescriptors,
  type SandboxAuditRecord,
} from "../../../server/sandbox/index.js";

/** getModel never answers until its call is canceled: a run that waits on it stays pending. */
const gatewayTransport = createRouterTransport((router) => {
  router.service(ModelService, {
    listModels: () => ({ models: [] }),
    async getModel(_request, context) {
      await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
      throw new ConnectError("canceled", Code.Canceled);
    },
  });
});

describe("the gateway's sandbox", () => {
  let sandbox: GatewaySandbox;
  const records: SandboxAuditRecord[] = [];

  beforeAll(async () => {
    const sdk = createSandboxSdk({ gateway: loadGatewayDescriptors(), gatewayTransport, operators: [], allowedMethods: [] });
    sandbox = createGatewaySandbox({
      sdk,
      settings: { ...embeddedSandboxSettings, poolSize: 1, maxPendingRuns: 1, maxPendingChecks: 1, limits: { ...embeddedSandboxSettings.limits, wallTimeMs: 400 } },
      log: silentLogger,
      onRun: (record) => records.push(record),
    });
    await sandbox.check("return 1;");
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it("lets a request lower a limit, never raise it", async () => {
    const raised = await sandbox.execute({ code: "while (true) {}", caller: "t", via: "rpc", limits: { wallTimeMs: 60_000 } });
    expect(raised).toMatchObject({ kind: "limit", limit: "wall-time" });
    expect(raised.kind === "limit" && raised.durationMs).toBeLessThan(3000);
    const lowered = await sandbox.execute({ code: "return [1, 2, 3];", caller: "t", via: "rpc", limits: { maxOutputBytes: 4 } });
    expect(lowered).toMatchObject({ kind: "limit", limit: "output" });
  });

  it("answers resource_exhausted when too many runs are in progress", async () => {
    const waiting = sandbox.execute({ code: 'return await gateway.models.getModel({ model: "m" });', caller: "t", via: "rpc" });
    await expect(sandbox.execute({ code: "return 1;", caller: "t", via: "rpc" })).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect(await waiting).toMatchObject({ kind: "limit", limit: "wall-time" });
    expect(await sandbox.execute({ code: "return 2;", caller: "t", via: "rpc" })).toMatchObject({ kind: "ok", returnJson: "2" });
  });

  it("answers resource_exhausted when too many checks are in progress, and checks again once one is done", async () => {
    const first = sandbox.check("return 1;");
    await expect(sandbox.check("return 2;")).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect(await first).toMatchObject({ kind: "ok" });
    expect(await sandbox.check("return 3;")).toMatchObject({ kind: "ok" });
  });

  it("reports every run to onRun with its audit record", async () => {
    records.length = 0;
    await sandbox.execute({ code: "return await gateway.models.listModels({});", caller: "agent-7", via: "mcp" });
    await sandbox.execute({ code: "return missing;", caller: "agent-7", via: "mcp" });
    expect(records.map((r) => [r.caller, r.via, r.outcome, r.calls.map((c) => c.method)])).toEqual([
      ["agent-7", "mcp", "ok", ["listModels"]],
      ["agent-7", "mcp", "diagnostics", []],
    ]);
    expect(records[0]?.codeSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("gives an overview of services and methods for an empty docs query", () => {
    const entries = sandbox.searchDocs("");
    expect(new Set(entries.map((e) => e.kind))).toEqual(new Set(["service", "method"]));
    expect(entries.map((e) => e.path)).toContain("gateway.models.getModel");
  });

  it("refuses work after close with unavailable", async () => {
    const closing = createGatewaySandbox({
      sdk: createSandboxSdk({ gateway: loadGatewayDescriptors(), gatewayTransport, operators: [], allowedMethods: [] }),
      settings: embeddedSandboxSettings,
      log: silentLogger,
    });
    await closing.close();
    await expect(closing.execute({ code: "return 1;", caller: "t", via: "rpc" })).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(closing.check("return 1;")).rejects.toMatchObject({ code: Code.Unavailable });
  });
});
