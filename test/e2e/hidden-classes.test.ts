import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countMapEvents, isNewMapPerObject, markerBody, readMapLogWindow } from "../../bench/map-log.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { type RunningProcess, startProcess } from "../helpers/run-process.js";

const model = "qwen.gguf";
const chatPath = "/protogate.v1.InferenceService/Chat";
const chatBody = JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] });
const requests = 300;

/**
 * On Node 20, one object per request built so that it gets a hidden class
 * (V8 map) of its own — a Node `AbortSignal`, or a literal that starts
 * with a spread and then gets another key — costs a Chat measurable CPU
 * and leaves the garbage collector work (docs/benchmarks.md, "Hidden
 * classes of their own"). The gateway runs as `protogate serve` under
 * V8's `--log-maps`; between two marker requests (bench/map-log.ts), a
 * steady stream of Chats must give no object such a map. One such
 * object per request would show up as `requests` events or more.
 */
describe("hidden classes on a Chat's path", { timeout: 120_000 }, () => {
  let llama: OpenAiFake;
  let serve: RunningProcess;
  let logDir: string;
  let url = "";

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), "protogate-maps-"));
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    const v8Flags = ["--log-maps", `--logfile=${join(logDir, "v8.log")}`, "--no-logfile-per-isolate"];
    serve = startProcess(process.execPath, [...v8Flags, "bin/protogate.js", "serve", "--port", "0", "--backend", `openai=${llama.url}`], {
      timeoutMs: 110_000,
    });
    [, url = ""] = await serve.waitForStdout(/^protogate listening on (http:\/\/127\.0\.0\.1:\d+) /m);
  });
  afterAll(async () => {
    if (serve.child.exitCode === null) serve.child.kill("SIGTERM");
    await serve.exited;
    await llama.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  /**
   * POSTs `body` as Connect JSON and returns the status. Over fetch's
   * keep-alive connections: a new connection costs maps of its own in
   * Node's `net.Socket` (its options are copied with a spread), once per
   * connection rather than per request.
   */
  async function post(body: string): Promise<number> {
    const answer = await fetch(`${url}${chatPath}`, { method: "POST", headers: { "content-type": "application/json" }, body });
    await answer.arrayBuffer();
    return answer.status;
  }

  async function chat(): Promise<void> {
    expect(await post(chatBody)).toBe(200);
  }

  /** A request that is not a ChatRequest: refused as invalid_argument, and its key marks V8's log. */
  async function mark(key: string): Promise<void> {
    expect(await post(markerBody(key))).toBe(400);
  }

  it("builds no map of its own for any object, request after request", async () => {
    // First-time transitions (of the Chat and of the refusal) happen here, outside the window.
    for (let index = 0; index < requests; index++) await chat();
    await mark("hiddenClassesWarmup");
    await mark("hiddenClassesWindowStart");
    for (let index = 0; index < requests; index++) await chat();
    await mark("hiddenClassesWindowEnd");
    // Stopping the gateway flushes V8's log.
    serve.child.kill("SIGTERM");
    expect((await serve.exited).code).toBe(0);

    const window = await readMapLogWindow(join(logDir, "v8.log"), "hiddenClassesWindowStart", "hiddenClassesWindowEnd");
    const perObject = window.events.filter(isNewMapPerObject);
    const sites = countMapEvents({ codes: window.codes, events: perObject }).bySite.slice(0, 10);
    expect(perObject.length, `maps of their own, by site: ${JSON.stringify(sites)}`).toBeLessThan(requests / 10);
  });
});
