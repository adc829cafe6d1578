import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { createOllamaFake, DEFAULT_CONTENT, type OllamaFake } from "../helpers/fake-upstream/index.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");
const documentedUrl = "http://127.0.0.1:7070";

/** The fenced blocks of one language in the README, in order. */
function blocks(language: string): string[] {
  return [...readme.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((match) => match[1] ?? "");
}

/** Shell commands of the tour: every sh block except the ones that start or test the project. */
function tourCommands(): string[] {
  return blocks("sh")
    .flatMap((block) => block.replace(/\\\n\s*/g, "").split("\n"))
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith("npm start") && !line.startsWith("npm test"));
}

describe("README snippets", () => {
  let ollama: OllamaFake;
  let gateway: RunningGateway;
  beforeAll(async () => {
    ollama = await createOllamaFake({ models: [{ name: "qwen3:0.6b", capabilities: ["completion", "tools"] }] });
    gateway = await startTestGateway({ backends: [{ id: "ollama", kind: "ollama", url: ollama.url }] });
  });
  afterAll(async () => {
    await gateway.close();
    await ollama.close();
  });

  it("has the tour commands it promises", () => {
    const commands = tourCommands();
    expect(commands.some((c) => c.includes("ListModels?encoding=json"))).toBe(true);
    expect(commands.some((c) => c.startsWith("npx buf curl --protocol grpc"))).toBe(true);
    expect(commands.some((c) => c.startsWith("npm run protogate -- chat"))).toBe(true);
    expect(commands.some((c) => c.includes("SandboxService/Check"))).toBe(true);
    expect(commands.some((c) => c.endsWith("| npm run protogate -- sandbox run -"))).toBe(true);
  });

  it.each(tourCommands())("runs: %s", async (command) => {
    const { stdout } = await run("bash", ["-c", command.replaceAll(documentedUrl, gateway.url)], {
      cwd: root,
      timeout: 30_000,
      env: { ...process.env, PROTOGATE_URL: gateway.url },
    });
    if (command.includes("SandboxService/Check")) {
      const [diagnostic] = (JSON.parse(stdout) as { diagnostics: Array<{ line: number; column: number; help: string }> }).diagnostics;
      expect(diagnostic).toMatchObject({ line: 1, column: 40 });
      expect(diagnostic?.help).toContain("`modle` is not a field of GetModelRequest. Did you mean `model`?");
    } else if (command.includes("sandbox run")) {
      expect(stdout).toContain('[\n  "qwen3:0.6b"\n]');
    } else if (command.includes('"messages":[]')) {
      expect(stdout).toContain('"code":"invalid_argument"');
    } else if (command.includes("/Chat ") || command.endsWith("/Chat")) {
      expect(JSON.parse(stdout)).toMatchObject({ model: "qwen3:0.6b", backend: "ollama" });
    } else if (command.includes("ListModels")) {
      expect(JSON.parse(stdout).models[0]).toMatchObject({ id: "qwen3:0.6b", backend: "ollama" });
    } else if (command.includes("Health/Check")) {
      expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    } else if (command.includes("/readyz")) {
      expect(JSON.parse(stdout)).toMatchObject({ ready: true });
    } else if (command.includes("ChatStream")) {
      expect(stdout).toContain('"end"');
    } else if (command.includes("-- models")) {
      // The tour's chats load the model; once a readiness probe has seen that, it is listed as loaded.
      expect(stdout).toMatch(/qwen3:0\.6b\s+ollama\s+(available|loaded)/);
    } else if (command.includes("-- chat")) {
      expect(stdout).toContain(DEFAULT_CONTENT);
    } else {
      throw new Error(`no expectation for README command: ${command}`);
    }
  });

  it("runs the SDK snippet", async () => {
    const [snippet] = blocks("ts");
    expect(snippet).toBeDefined();
    ollama.enqueue({ kind: "reply", content: "Checking.", toolCalls: [{ id: "call_w", name: "get_weather", argumentsText: '{"city":"Paris"}' }] });
    // Inside the repo so that the `protogate/sdk` self-reference resolves.
    const file = join(root, `.readme-snippet-${process.pid}.ts`);
    writeFileSync(file, (snippet ?? "").replaceAll(documentedUrl, gateway.url));
    try {
      const { stdout } = await run(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), file], { cwd: root, timeout: 30_000 });
      expect(stdout).toContain("Checking.");
      expect(stdout).toContain('tool call: get_weather {"city":"Paris"}');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
