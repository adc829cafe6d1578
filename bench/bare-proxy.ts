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
 * with `npx tsx bench/bare-proxy.ts --upstream URL --port 0`). A request
 * it cannot parse gets a 400; nothing else is checked.
 */
import { Agent, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { type StandaloneServer, flagValue, portFlag, runWhenMain } from "./standalone-server.js";

/** A running bare proxy; its URL answers POSTs to any path. */
export type BareProxy = StandaloneServer;

/** What the proxy learns from a client's chat request. */
export interface ProxiedChat {
  readonly model: string;
  readonly contents: readonly string[];
}

/** The upstream answer fields the proxy passes back, unchecked. */
export interface UpstreamChat {
  readonly model: string;
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>;
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number };
}

/**
 * How a proxy reads the client's request and writes its answer: the only
 * part that differs between the bare proxy and the contract proxy
 * (bench/contract-proxy.ts). `decode` throws on a request it refuses.
 */
export interface ProxyCodec {
  decode(text: string): ProxiedChat;
  encode(request: ProxiedChat, answer: UpstreamChat): Buffer;
}

/** Plain `JSON.parse` and `JSON.stringify`, nothing checked. */
export const plainJsonCodec: ProxyCodec = {
  decode(text) {
    const input = JSON.parse(text) as { model: string; messages: ReadonlyArray<{ content: string }> };
    return { model: input.model, contents: input.messages.map((message) => message.content) };
  },
  encode(_request, answer) {
    return Buffer.from(JSON.stringify({ model: answer.model, message: { content: answer.choices[0]?.message.content }, usage: answer.usage }));
  },
};

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
export async function startBareProxy(upstreamUrl: string, port = 0, codec: ProxyCodec = plainJsonCodec): Promise<BareProxy> {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((request, response) => {
    readAll(request, (text) => {
      let input: ProxiedChat;
      try {
        input = codec.decode(text);
      } catch (error) {
        response.writeHead(400, { "content-type": "text/plain" });
        response.end(String(error));
        return;
      }
      const body = Buffer.from(
        JSON.stringify({ model: input.model, messages: input.contents.map((content) => ({ role: "user", content })), stream: false }),
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
            const out = codec.encode(input, JSON.parse(answer) as UpstreamChat);
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
