import { Code, ConnectError } from "@connectrpc/connect";
import { spawn } from "node:child_process";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { connectErrorForFailure } from "../../../server/backends/upstream-failure.js";
import { type RequestLogEntry, createRequestLogger } from "../../../server/observability/index.js";
import { codeLabel } from "../../../server/observability/labels.js";
import { repoRoot } from "../../helpers/run-process.js";

function setup(level?: "info" | "warn") {
  const lines: string[] = [];
  const logger = createRequestLogger({
    destination: { write: (line: string) => void lines.push(line) },
    now: () => Date.UTC(2025, 0, 2, 3, 4, 5, 678),
    ...(level === undefined ? {} : { level }),
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...logger, lines, parsed };
}

const entry: RequestLogEntry = {
  requestId: "req-1",
  sessionId: "sess-9",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  service: "protogate.v1.InferenceService",
  method: "ChatStream",
  model: "qwen",
  backend: "llama",
  code: "ok",
  durationMs: 812.3456,
  upstreamMs: 809.1,
  ttftMs: 95,
  tokensIn: 120,
  tokensOut: 64,
  retries: 1,
  fallbackFrom: "vllm",
};

describe("createRequestLogger", () => {
  it("writes one JSON line per request with the named fields", () => {
    const { logRequest, lines, parsed } = setup();
    logRequest(entry);
    expect(lines).toHaveLength(1);
    const line = parsed()[0] ?? {};
    const { pid, hostname, ...rest } = line;
    expect(typeof pid).toBe("number");
    expect(typeof hostname).toBe("string");
    expect(rest).toEqual({
      level: "info",
      time: "2025-01-02T03:04:05.678Z",
      msg: "request",
      request_id: "req-1",
      session_id: "sess-9",
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      service: "protogate.v1.InferenceService",
      method: "ChatStream",
      model: "qwen",
      backend: "llama",
      code: "ok",
      duration_ms: 812.346,
      upstream_ms: 809.1,
      ttft_ms: 95,
      tokens_in: 120,
      tokens_out: 64,
      retries: 1,
      fallback_from: "vllm",
    });
  });

  it("writes the bytes pino would write for the same fields", () => {
    const { logRequest, lines } = setup();
    const pinoLines: string[] = [];
    const reference = pino(
      {
        formatters: { level: (label: string) => ({ level: label }) },
        timestamp: () => `,"time":"${new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)).toISOString()}"`,
      },
      { write: (line: string) => void pinoLines.push(line) },
    );
    const models = ["qwen", 'say "hi" \\ back', "tab\tnew\nline\u0001", "héllo ✓ 🦙 \u2028", ""];
    const entries: RequestLogEntry[] = [
      entry,
      { requestId: "r2", service: "protogate.v1.ModelService", method: "ListModels", code: "ok", durationMs: 0.0004, retries: 0 },
      ...models.map((model, index): RequestLogEntry => ({ ...entry, model, durationMs: index * 1.23456789, tokensOut: 0 })),
      { ...entry, code: Code.NotFound, error: new ConnectError('model "x\"y" not found', Code.NotFound) },
      { ...entry, code: Code.Unavailable, error: new ConnectError("backend down", Code.Unavailable, undefined, undefined, new Error("ECONNREFUSED\n")) },
    ];
    for (const item of entries) {
      logRequest(item);
      const fields: Record<string, unknown> = {
        request_id: item.requestId,
        service: item.service,
        method: item.method,
        code: codeLabel(item.code),
        duration_ms: Math.round(item.durationMs * 1000) / 1000,
        retries: item.retries,
      };
      if (item.sessionId !== undefined) fields.session_id = item.sessionId;
      if (item.traceId !== undefined) fields.trace_id = item.traceId;
      if (item.model !== undefined) fields.model = item.model;
      if (item.backend !== undefined) fields.backend = item.backend;
      if (item.upstreamMs !== undefined) fields.upstream_ms = Math.round(item.upstreamMs * 1000) / 1000;
      if (item.ttftMs !== undefined) fields.ttft_ms = item.ttftMs;
      if (item.tokensIn !== undefined) fields.tokens_in = item.tokensIn;
      if (item.tokensOut !== undefined) fields.tokens_out = item.tokensOut;
      if (item.fallbackFrom !== undefined) fields.fallback_from = item.fallbackFrom;
      // What an error's fields hold is checked below; here only how they are written.
      if (item.error !== undefined) fields.error = (JSON.parse(lines.at(-1) ?? "{}") as { error: unknown }).error;
      const level = item.code === "ok" ? "info" : item.code === Code.NotFound ? "warn" : "error";
      reference[level](fields, "request");
    }
    expect(lines).toEqual(pinoLines);
  });

  it("never writes prompt contents, even when a caller passes them", () => {
    const { logRequest, lines } = setup();
    const withPrompt = { ...entry, messages: [{ role: "user", content: "my secret prompt" }], prompt: "my secret prompt" };
    logRequest(withPrompt as RequestLogEntry);
    expect(lines[0]).not.toContain("secret prompt");
    expect(lines[0]).not.toContain("messages");
  });

  it("logs an error as code, safe message and a cut cause, at a level that fits", () => {
    const { logRequest, parsed } = setup();
    const upstream = connectErrorForFailure(
      { kind: "http", status: 500, bodyText: `boom ${"x".repeat(5000)}`, retryAfterMs: undefined },
      { backendId: "llama" },
    );
    logRequest({ ...entry, code: upstream.code, error: upstream });
    logRequest({ ...entry, code: Code.InvalidArgument, error: new ConnectError("messages must not be empty", Code.InvalidArgument) });
    logRequest({ ...entry, code: Code.Canceled, error: new ConnectError("request canceled", Code.Canceled) });
    const [internal, invalid, canceled] = parsed();
    expect(internal?.level).toBe("error");
    expect(internal?.code).toBe("internal");
    const error = internal?.error as Record<string, string>;
    expect(error.code).toBe("internal");
    expect(error.message).toBe('backend "llama" failed (HTTP 500)');
    // 500 characters kept, and how many were left out said.
    expect(error.cause).toMatch(/^HTTP 500: boom x+… \(\d+ more characters\)$/);
    expect(error.cause?.indexOf("…")).toBe(500);
    expect(Object.keys(error).sort()).toEqual(["cause", "code", "message"]);
    expect(invalid?.level).toBe("warn");
    expect(invalid?.error).toEqual({ code: "invalid_argument", message: "messages must not be empty" });
    expect(canceled?.level).toBe("info");
  });

  it("cuts the model and the error message, which quote a client's text, to a bounded length", () => {
    const { logRequest, parsed } = setup();
    const key = "k".repeat(100_000);
    logRequest({ ...entry, model: "m".repeat(100_000), code: Code.InvalidArgument, error: new ConnectError(`key "${key}" is unknown`, Code.InvalidArgument) });
    const [line] = parsed();
    expect(line?.model).toBe(`${"m".repeat(256)}… (99744 more characters)`);
    // `key "` + 100 000 k + `" is unknown`: 100 017 characters, 1 024 kept.
    expect((line?.error as Record<string, string>).message).toBe(`key "${"k".repeat(1019)}… (98993 more characters)`);
  });

  it("redacts credentials on every line", () => {
    const { logger, lines } = setup();
    logger.info(
      {
        headers: { authorization: "Bearer sk-live-123", "x-api-key": "key-456", cookie: "session=789" },
        backend: { apiKey: "sk-abc", api_key: "sk-def", url: "http://127.0.0.1:8080" },
        authorization: "Basic dXNlcjpwYXNz",
      },
      "configured",
    );
    const text = lines.join("");
    for (const secret of ["sk-live-123", "key-456", "session=789", "sk-abc", "sk-def", "dXNlcjpwYXNz"]) {
      expect(text).not.toContain(secret);
    }
    const line = JSON.parse(lines[0] ?? "{}") as { headers: Record<string, string>; backend: Record<string, string> };
    expect(line.headers).toEqual({ authorization: "[Redacted]", "x-api-key": "[Redacted]", cookie: "[Redacted]" });
    expect(line.backend).toEqual({ apiKey: "[Redacted]", api_key: "[Redacted]", url: "http://127.0.0.1:8080" });
  });

  it("honours the level", () => {
    const { logRequest, parsed } = setup("warn");
    logRequest(entry);
    logRequest({ ...entry, code: Code.NotFound });
    expect(parsed().map((line) => line.code)).toEqual(["not_found"]);
  });

  describe("the default destination (stderr, batched)", () => {
    /** Runs `body` in a child process that has `log(i)` writing request line i with the default destination. */
    function child(body: string) {
      const script = `
        import { createRequestLogger } from "./server/observability/request-logger.ts";
        const { logRequest } = createRequestLogger();
        const log = (i) => logRequest({ requestId: "r" + i, service: "s", method: "m", code: "ok", durationMs: 1, retries: 0 });
        ${body}`;
      const process_ = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: repoRoot });
      let stderr = "";
      const lineWaiters = new Set<() => void>();
      process_.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
        for (const wake of lineWaiters) wake();
      });
      const exited = new Promise<number | null>((resolve) => process_.on("close", (code) => resolve(code)));
      const requestIds = () => stderr.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { request_id: string }).request_id);
      /** Resolves once `count` lines have arrived. */
      const lines = (count: number) =>
        new Promise<void>((resolve) => {
          const check = () => {
            if (requestIds().length < count) return;
            lineWaiters.delete(check);
            resolve();
          };
          lineWaiters.add(check);
          check();
        });
      return { process: process_, exited, requestIds, lines };
    }

    it("writes a held line while the process keeps running (the periodic flush)", async () => {
      // One short line is far below the batch size: only the periodic flush writes it.
      const running = child("log(1); setInterval(() => undefined, 60_000);");
      await running.lines(1);
      expect(running.requestIds()).toEqual(["r1"]);
      running.process.kill("SIGKILL");
      await running.exited;
    });

    it("writes every line of a burst, in order, when the process exits right after it", async () => {
      const burst = child("for (let i = 0; i < 500; i++) log(i); process.exit(0);");
      expect(await burst.exited).toBe(0);
      expect(burst.requestIds()).toEqual(Array.from({ length: 500 }, (_, i) => `r${i}`));
    });
  });
});
