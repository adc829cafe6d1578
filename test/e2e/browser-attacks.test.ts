import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { launchBrowser } from "../helpers/browser.js";
import { createOpenAiFake, type OpenAiFake } from "../helpers/fake-upstream/index.js";
import { scrapeMetrics } from "../helpers/scrape-metrics.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

const model = "qwen.gguf";
const chatPath = "/protogate.v1.InferenceService/Chat";
const chatJson = JSON.stringify({ model, messages: [{ role: "ROLE_USER", content: "hi" }] });
const mcpCall = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_typescript", arguments: { code: "return 6 * 7;" } } });

/** What a page's `fetch` ended with: an answer it could read, or the browser's error. */
type FetchOutcome = { readonly status: number; readonly text: string; readonly requestId: string | null } | { readonly error: string };

/** Runs `fetch(url, init)` inside the page, as the page's own script would. */
function fetchFromPage(page: Page, url: string, init: { method: string; headers?: Record<string, string>; body?: string; mode?: "cors" | "no-cors" }): Promise<FetchOutcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const response = await fetch(url, init);
        return { status: response.status, text: await response.text(), requestId: response.headers.get("protogate-request-id") };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url, init },
  );
}

/**
 * The host check and CORS against a real browser (Debian's headless
 * Chromium). Chromium resolves attacker.test, ui.test and other.test to
 * 127.0.0.1, as DNS rebinding would; a plain server on loopback serves the
 * pages at ui.test and other.test.
 */
describe("a real browser against the gateway", { timeout: 60_000 }, () => {
  let llama: OpenAiFake;
  let gateway: RunningGateway;
  let pages: Server;
  let pagePort: number;
  let browser: Browser;
  const chats = () => llama.requests.filter((request) => request.path === "/v1/chat/completions").length;

  beforeAll(async () => {
    pages = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end("<!doctype html><title>page</title>");
    });
    await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
    pagePort = (pages.address() as AddressInfo).port;
    llama = await createOpenAiFake({ flavour: "llamacpp", models: [model] });
    gateway = await startTestGateway({ backends: [{ id: "llama", kind: "openai", url: llama.url }], overrides: { corsOrigins: [`http://ui.test:${pagePort}`] } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser.close();
    await gateway.close();
    await llama.close();
    await new Promise<void>((resolve) => pages.close(() => resolve()));
  });

  it("a page whose name was rebound to 127.0.0.1 gets nothing from the gateway, though it is same-origin with it", async () => {
    const chatsBefore = chats();
    const page = await browser.newPage();
    try {
      // The page's origin is now attacker.test:PORT, which is where the gateway listens.
      const navigation = await page.goto(`http://attacker.test:${gateway.port}/healthz`);
      expect(navigation?.status()).toBe(403);
      const chat = await fetchFromPage(page, chatPath, { method: "POST", headers: { "content-type": "application/json" }, body: chatJson });
      expect("status" in chat ? [chat.status, JSON.parse(chat.text).code] : chat).toEqual([403, "permission_denied"]);
      const sandbox = await fetchFromPage(page, "/mcp", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: mcpCall,
      });
      expect("status" in sandbox ? sandbox.status : sandbox).toBe(403);
      const readyz = await fetchFromPage(page, "/readyz", { method: "GET" });
      expect("status" in readyz ? readyz.status : readyz).toBe(403);
    } finally {
      await page.close();
    }
    expect(chats()).toBe(chatsBefore);
  });

  it("a page on another site can neither call the gateway at 127.0.0.1 nor read from it", async () => {
    const chatsBefore = chats();
    const before = await scrapeMetrics(gateway.url);
    const page = await browser.newPage();
    try {
      await page.goto(`http://other.test:${pagePort}/`);
      // JSON needs a preflight, which the gateway refuses: the browser never sends the call.
      const cors = await fetchFromPage(page, `http://127.0.0.1:${gateway.port}${chatPath}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chatJson,
      });
      expect(cors).toEqual({ error: "TypeError: Failed to fetch" });
      // A "simple" request needs none; the browser sends it blind, and the gateway refuses it by its Origin.
      const blind = await fetchFromPage(page, `http://127.0.0.1:${gateway.port}${chatPath}`, {
        method: "POST",
        mode: "no-cors",
        headers: { "content-type": "text/plain" },
        body: chatJson,
      });
      expect(blind).toEqual({ status: 0, text: "", requestId: null });
    } finally {
      await page.close();
    }
    expect(chats()).toBe(chatsBefore);
    const after = await scrapeMetrics(gateway.url);
    // The preflight and the blind POST.
    expect(after.value("protogate_foreign_host_requests_total", { header: "origin" }) - before.value("protogate_foreign_host_requests_total", { header: "origin" })).toBe(2);
  });

  it("a page at a listed CORS origin calls Chat and reads the answer and its request id", async () => {
    llama.enqueue({ kind: "reply", content: "hello, browser" });
    const page = await browser.newPage();
    try {
      await page.goto(`http://ui.test:${pagePort}/`);
      const chat = await fetchFromPage(page, `http://127.0.0.1:${gateway.port}${chatPath}`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-protocol-version": "1" },
        body: chatJson,
      });
      if (!("status" in chat)) throw new Error(`the listed page could not call the gateway: ${chat.error}`);
      expect([chat.status, JSON.parse(chat.text).message.content]).toEqual([200, "hello, browser"]);
      expect(chat.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(chat.text).id).toBe(`chat-${chat.requestId}`);
    } finally {
      await page.close();
    }
  });

  it("a page at a listed CORS origin speaks gRPC-Web: it reads answers, errors and request ids", async () => {
    llama.enqueue({ kind: "reply", content: "over grpc-web" });
    const page = await browser.newPage();
    try {
      await page.goto(`http://ui.test:${pagePort}/`);
      const result = await page.evaluate(
        async ({ url, good, bad }) => {
          // gRPC-Web with the JSON codec: one envelope (flags 0, big-endian length) around the message.
          const call = async (message: string) => {
            const bytes = new TextEncoder().encode(message);
            const body = new Uint8Array(5 + bytes.length);
            new DataView(body.buffer).setUint32(1, bytes.length);
            body.set(bytes, 5);
            const response = await fetch(url, { method: "POST", headers: { "content-type": "application/grpc-web+json", "x-grpc-web": "1" }, body });
            return { requestId: response.headers.get("protogate-request-id"), text: new TextDecoder().decode(await response.arrayBuffer()) };
          };
          return { ok: await call(good), error: await call(bad) };
        },
        {
          url: `http://127.0.0.1:${gateway.port}${chatPath}`,
          good: chatJson,
          bad: JSON.stringify({ model: "no-such-model", messages: [{ role: "ROLE_USER", content: "hi" }] }),
        },
      );
      // The answer and its trailers (the status) are in the body; the request id is a header the page may read.
      expect(result.ok.text).toContain("over grpc-web");
      expect(result.ok.text).toMatch(/grpc-status: ?0/);
      expect(result.error.text).toMatch(/grpc-status: ?5\r\n/);
      for (const { requestId } of [result.ok, result.error]) expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await page.close();
    }
  });
});
