/**
 * The sandbox as an MCP server: Streamable HTTP at `/mcp` on the gateway's
 * port, stateless (each POST gets a fresh server and transport from the
 * official `@modelcontextprotocol/sdk`), with three tools whose descriptions
 * teach a model the workflow: search the docs, check, execute.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { SandboxDiagnostic } from "../../sandbox/checker/index.js";
import type { DocsEntry } from "../../sandbox/docs/index.js";
import type { NodeRequest, NodeResponse } from "../http/probe-routes.js";
import type { Logger } from "../log/logger.js";
import { callerHeader, callerName } from "./caller.js";
import type { GatewaySandbox, SandboxRun } from "./gateway-sandbox.js";

/** Options of {@link createMcpEndpoint}. */
export interface McpEndpointOptions {
  readonly sandbox: GatewaySandbox;
  /** Largest request body, in bytes (the gateway's request limit). */
  readonly maxBodyBytes: number;
  /** Where failures of the endpoint itself are logged. */
  readonly log: Logger;
  /** Reported to clients as the server's version. */
  readonly version?: string;
}

/** Longest code the tools accept, in characters (as SandboxService). */
const maxCodeLength = 100_000;

/** The SDK's services and their methods, one line each: `gateway.models: listModels, getModel`. */
function serviceSummary(sandbox: GatewaySandbox): string {
  return sandbox.surface.services
    .map((s) => `- gateway.${s.property}: ${s.methods.map((m) => m.name).join(", ")}`)
    .join("\n");
}

const codeRules = [
  "Write the BODY of an async function in TypeScript: call services with `await gateway.<service>.<method>({ ... })` and finish with `return <value>` (anything JSON can hold).",
  "Requests and responses are plain objects in Protobuf JSON form: camelCase field names, enums as strings (\"ROLE_USER\"), 64-bit integers as strings.",
  "A failed call throws SdkError with `.code` (\"invalid_argument\", \"not_found\", …) and `.message`; catch it with `e instanceof SdkError`.",
  "Only `gateway`, `SdkError`, `console` and the ES2023 library exist: no imports, require, fetch, timers, files or network. console.log output is returned to you.",
].join("\n");

/** The server's instructions, sent at initialization. */
function instructions(sandbox: GatewaySandbox): string {
  return [
    "This server runs TypeScript against the protogate gateway's typed SDK in a sandbox.",
    "Workflow: 1) search_sdk_docs to find the method and the request fields you need; 2) write the code; 3) check_typescript and fix every diagnostic using its help text (it names the right method, field or enum value); 4) execute_typescript.",
    "",
    "Services:",
    serviceSummary(sandbox),
    "",
    codeRules,
  ].join("\n");
}

function text(body: string, isError = false): CallToolResult {
  return { content: [{ type: "text", text: body }], ...(isError ? { isError: true } : {}) };
}

function formatDiagnostics(diagnostics: readonly SandboxDiagnostic[]): string {
  return diagnostics
    .map((d, i) => {
      const code = typeof d.code === "number" ? `TS${d.code}` : d.code;
      const help = d.help === "" ? "" : `\n   Help:\n${d.help.split("\n").map((line) => `   ${line}`).join("\n")}`;
      return `${i + 1}. line ${d.line}, column ${d.column} — ${code}: ${d.message}${help}`;
    })
    .join("\n\n");
}

function formatEntries(entries: readonly DocsEntry[]): string {
  return entries.map((e) => `${e.path} (${e.kind})\n  ${e.signature}\n  ${e.doc.replaceAll("\n", "\n  ")}`).join("\n\n");
}

function formatRun(run: SandboxRun): CallToolResult {
  if (run.kind === "diagnostics") {
    const count = run.diagnostics.length;
    return text(
      `The code does not type-check (${count} problem${count === 1 ? "" : "s"}); nothing ran. Fix every problem using its help and call execute_typescript again.\n\n${formatDiagnostics(run.diagnostics)}`,
      true,
    );
  }
  const logs = run.logs.length === 0 ? "" : `\n\nConsole:\n${run.logs.map((l) => `[${l.level}] ${l.text}`).join("\n")}`;
  const calls =
    run.calls.length === 0
      ? ""
      : `\n\nSDK calls:\n${run.calls.map((c) => `- gateway.${c.service}.${c.method} → ${c.code} (${c.durationMs} ms)`).join("\n")}`;
  switch (run.kind) {
    case "ok":
      return text(`Returned (JSON):\n${run.returnJson}${logs}${calls}`);
    case "error":
      return text(`The code threw ${run.error.name}: ${run.error.message}\n${run.error.stack}${logs}${calls}`, true);
    case "limit":
      return text(`The sandbox stopped the code: ${run.limit} limit — ${run.message}${logs}${calls}`, true);
  }
}

function registerTools(server: McpServer, sandbox: GatewaySandbox, caller: string, signal: AbortSignal): void {
  const services = serviceSummary(sandbox);
  server.registerTool(
    "search_sdk_docs",
    {
      title: "Search the gateway SDK docs",
      description: [
        "Looks up the typed SDK that TypeScript run by execute_typescript calls: services, methods, request and response types, fields with their rules, enum values.",
        "Query with a symbol (`gateway.inference.chat`, `ChatRequest.messages`), a name, or a few words (\"tool calls\"); leave it empty for an overview of every service and method.",
        "Use it before writing code, and whenever a diagnostic mentions a type you need to know more about.",
        "",
        "Services:",
        services,
      ].join("\n"),
      inputSchema: {
        query: z.string().max(256).describe("A symbol, a name or a few words; empty for an overview."),
        limit: z.number().int().min(1).max(100).optional().describe("Most entries to return (default 10)."),
      },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ query, limit }) => {
      const entries = sandbox.searchDocs(query, limit);
      if (entries.length === 0) {
        return text(`No docs match "${query}". Try a service or method name, or an empty query for an overview.`);
      }
      return text(formatEntries(entries));
    },
  );
  server.registerTool(
    "check_typescript",
    {
      title: "Type-check sandbox TypeScript",
      description: [
        "Type-checks TypeScript against the gateway SDK without running it (fast, about 10 ms). Returns OK, or each problem with its line, column and help that names the right method, field or enum value and lists the allowed ones.",
        "Fix every problem and check again until it is OK, then run the same code with execute_typescript.",
        "",
        codeRules,
      ].join("\n"),
      inputSchema: { code: z.string().min(1).max(maxCodeLength).describe("The body of an async function, in TypeScript.") },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ code }) => {
      const result = await sandbox.check(code);
      if (result.kind === "ok") return text(`OK: the code type-checks (${result.durationMs} ms). Run it with execute_typescript.`);
      return text(`The code does not type-check; fix every problem using its help and check again.\n\n${formatDiagnostics(result.diagnostics)}`, true);
    },
  );
  server.registerTool(
    "execute_typescript",
    {
      title: "Run sandbox TypeScript against the gateway",
      description: [
        "Runs TypeScript that calls the gateway's services and returns what the code returns (as JSON), its console output and the SDK calls it made.",
        "The code is type-checked first: if it does not check, nothing runs and you get the problems with help instead (check_typescript gives the same, faster).",
        "Each run gets a fresh isolate with hard limits (wall time, memory, number of SDK calls, output size); requests are validated against the services' rules before they are sent.",
        "",
        "Services:",
        services,
        "",
        codeRules,
      ].join("\n"),
      inputSchema: { code: z.string().min(1).max(maxCodeLength).describe("The body of an async function, in TypeScript.") },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    },
    async ({ code }, extra) => {
      const run = await sandbox.execute({ code, caller, via: "mcp", signal: AbortSignal.any([signal, extra.signal]) });
      return formatRun(run);
    },
  );
}

type BodyResult = { readonly kind: "ok"; readonly body: Buffer } | { readonly kind: "too-large" };

async function readBody(request: NodeRequest, maxBytes: number): Promise<BodyResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return { kind: "too-large" };
    chunks.push(chunk);
  }
  return { kind: "ok", body: Buffer.concat(chunks) };
}

function webHeaders(request: NodeRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

function sendJsonRpcError(response: NodeResponse, status: number, code: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null });
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  response.end(body);
}

async function sendWebResponse(response: NodeResponse, web: Response): Promise<void> {
  const headers: Record<string, string> = {};
  web.headers.forEach((value, name) => {
    headers[name] = value;
  });
  response.writeHead(web.status, headers);
  if (web.body === null) {
    response.end();
    return;
  }
  for await (const chunk of web.body as unknown as AsyncIterable<Uint8Array>) {
    if (!response.write(chunk)) await new Promise<void>((resolve) => response.once("drain", () => resolve()));
  }
  response.end();
}

/**
 * Creates the `/mcp` request handler (HTTP/1.1 and HTTP/2). Stateless: only
 * POST is served (GET and DELETE, which need sessions, get 405). The caller
 * in the audit log is the `protogate-caller` header, else the peer address,
 * prefixed with `mcp:` (a stateless server does not keep the client's name
 * from `initialize`).
 *
 * @example
 * const mcp = createMcpEndpoint({ sandbox, maxBodyBytes: 4 << 20, log });
 * // in the fallback handler: if (path === "/mcp") return mcp(request, response);
 */
export function createMcpEndpoint(options: McpEndpointOptions): (request: NodeRequest, response: NodeResponse) => void {
  const { sandbox, log } = options;
  const serverInstructions = instructions(sandbox);

  const handle = async (request: NodeRequest, response: NodeResponse): Promise<void> => {
    if (request.method !== "POST") {
      response.setHeader("allow", "POST");
      return sendJsonRpcError(response, 405, -32000, "this MCP server is stateless: send requests with POST");
    }
    const body = await readBody(request, options.maxBodyBytes);
    if (body.kind === "too-large") return sendJsonRpcError(response, 413, -32000, `request body larger than ${options.maxBodyBytes} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.body.toString("utf8"));
    } catch {
      return sendJsonRpcError(response, 400, -32700, "parse error: the body is not JSON");
    }
    const headers = webHeaders(request);
    const caller = callerName(headers.get(callerHeader), request.socket?.remoteAddress, "mcp:");
    const gone = new AbortController();
    response.once("close", () => {
      if (!response.writableFinished) gone.abort();
    });
    const server = new McpServer({ name: "protogate-sandbox", version: options.version ?? "0.1.0" }, { instructions: serverInstructions });
    registerTools(server, sandbox, caller, gone.signal);
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true }); // no session id generator: stateless
    try {
      await server.connect(transport);
      const host = headers.get("host") ?? (request.headers[":authority"] as string | undefined) ?? "localhost";
      const web = new Request(`http://${host}${request.url ?? "/mcp"}`, { method: "POST", headers, body: body.body.toString("utf8") });
      await sendWebResponse(response, await transport.handleRequest(web, { parsedBody: parsed }));
    } finally {
      await server.close();
    }
  };

  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      log.error("mcp request failed", { error });
      if (!response.headersSent) sendJsonRpcError(response, 500, -32603, "internal error");
      else response.destroy();
    });
  };
}
