/**
 * The floor for any Node gateway: a bare JSON proxy in front of the fixed
 * upstream, built from `node:http` alone. It parses a protogate-shaped
 * chat request (`{ model, messages: [{ role, content }] }`), forwards it as
 * an OpenAI chat over a keep-alive agent, and answers
 * `{ model, message: { content }, usage }` — one HTTP hop in, one out, two
 * JSON parses and two serialisations, and nothing else: no validation, no
 * routing, no timeouts, no metrics, no logs, no error handling.
 *
 * What it costs is what any gateway written on Node's HTTP stack pays
 * before doing any of its own work, so the benchmarks show it beside
 * protogate: in one process (bench/cost-breakdown.ts) and as its own
 * process (bench/gateway-overhead.ts, target `node-proxy`; run it alone
 * with `npx tsx bench/bare-proxy.ts --upstream URL --port 0`).
 */
import { Agent, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { type StandaloneServer, flagValue, portFlag, runWhenMain } from "./standalone-server.js";

/** A running bare proxy; its URL answers POSTs to any path. */
export type BareProxy = StandaloneServer;

/** The chat request the proxy reads: protogate's JSON shape, unchecked. */
interface ProxiedChat {
  readonly model: string;
  readonly messages: ReadonlyArray<{ readonly content: string }>;
}

/** The upstream answer fields the proxy passes back, unchecked. */
interface UpstreamChat {
  readonly model: string;
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>;
  readonly usage: unknown;
}

function readAll(stream: NodeJS.ReadableStream, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
}

/**
 * Starts the proxy on loopback.
 *
 * @example
 * const proxy = await startBareProxy("http://127.0.0.1:8080");
 * // POST `${proxy.url}/` with {"model":"m","messages":[{"role":"ROLE_USER","content":"hi"}]}
 */
export async function startBareProxy(upstreamUrl: string, port = 0): Promise<BareProxy> {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((request, response) => {
    readAll(request, (text) => {
      const input = JSON.parse(text) as ProxiedChat;
      const body = Buffer.from(
        JSON.stringify({ model: input.model, messages: input.messages.map((message) => ({ role: "user", content: message.content })), stream: false }),
      );
      const outgoing = httpRequest(
        {
          agent,
          host: upstream.hostname,
          port: upstream.port,
          path: "/v1/chat/completions",
          method: "POST",
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (upstreamResponse) =>
          readAll(upstreamResponse, (answer) => {
            const parsed = JSON.parse(answer) as UpstreamChat;
            const out = Buffer.from(JSON.stringify({ model: parsed.model, message: { content: parsed.choices[0]?.message.content }, usage: parsed.usage }));
            response.writeHead(200, { "content-type": "application/json", "content-length": out.length });
            response.end(out);
          }),
      );
      outgoing.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

runWhenMain(import.meta.url, "bare proxy", (argv) => {
  const upstreamUrl = flagValue(argv, "--upstream");
  if (upstreamUrl === undefined) throw new Error("usage: npx tsx bench/bare-proxy.ts --upstream URL [--port 0]");
  return startBareProxy(upstreamUrl, portFlag(argv));
});
