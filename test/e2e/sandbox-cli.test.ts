import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { runProcess } from "../helpers/run-process.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

// Each test starts a Node process that compiles the CLI with tsx: seconds each on a busy machine.
describe("protogate sandbox (CLI)", { timeout: 60_000 }, () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let scratch: string;
  const file = (name: string, code: string) => {
    const path = join(scratch, name);
    writeFileSync(path, code);
    return path;
  };
  const sandbox = (...args: string[]) => runProcess(process.execPath, ["bin/protogate.js", "sandbox", ...args, "--url", gateway.url], { timeoutMs: 30_000 });

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "protogate-sandbox-cli-"));
    llama = await createOpenAiFake({ flavour: "llamacpp", models: ["qwen.gguf"] });
    gateway = await startTestGateway({ backends: [{ id: "llamacpp", kind: "openai", url: llama.url }] });
  });

  afterAll(async () => {
    await gateway.close();
    await llama.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("check prints ok and exits 0 for code that type-checks", async () => {
    const path = file("good.ts", 'const { models } = await gateway.models.listModels({});\nconsole.log("found", models.length);\nreturn models.map((m) => m.id);\n');
    const result = await sandbox("check", path);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout).toMatch(new RegExp(`^${path.replaceAll(".", "\\.")}: ok \\([\\d.]+ ms\\)\\n$`));
  });

  it("run prints the returned JSON on stdout, console output and the call trace on stderr", async () => {
    const path = file("run.ts", 'const { models } = await gateway.models.listModels({});\nconsole.log("found", models.length);\nreturn models.map((m) => m.id);\n');
    const result = await sandbox("run", path);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('[\n  "qwen.gguf"\n]\n');
    expect(result.stderr).toMatch(/^\[log\] found 1\n\[call\] gateway\.models\.listModels → ok \([\d.]+ ms\)\n$/);
  });

  it("check and run print each problem with its help and exit 1; nothing runs", async () => {
    const path = file("bad.ts", 'return await gateway.models.getModel({ modle: "qwen.gguf" });\n');
    for (const action of ["check", "run"]) {
      const result = await sandbox(action, path);
      expect([result.code, result.stdout]).toEqual([1, ""]);
      const lines = result.stderr.split("\n");
      expect(lines[0]).toMatch(new RegExp(`^${path.replaceAll(".", "\\.")}:1:40 error TS2561: `));
      expect(lines).toContain("  `modle` is not a field of GetModelRequest. Did you mean `model`?");
      expect(lines.at(-2)).toBe("1 problem; nothing ran.");
    }
  });

  it("run shows a thrown error with its stack and exits 1", async () => {
    const result = await sandbox("run", file("throws.ts", 'const n = 1;\nthrow new TypeError("bad " + n);\n'));
    expect([result.code, result.stdout]).toEqual([1, ""]);
    expect(result.stderr).toMatch(/^TypeError: bad 1\n {4}at .*agent\.ts:2:\d+\)?\n$/);
  });

  it("docs searches the SDK", async () => {
    const result = await sandbox("docs", "listModels");
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n").slice(0, 2)).toEqual([
      "gateway.models.listModels (method)",
      "  gateway.models.listModels(request?: ListModelsRequest): Promise<ListModelsResponse>",
    ]);
  });

  it("explains its usage when the action is missing", async () => {
    const result = await sandbox("compile", "x.ts");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("protogate: usage: protogate sandbox check FILE.ts | run FILE.ts | docs [QUERY]   (FILE - reads stdin)\n");
  });
});
