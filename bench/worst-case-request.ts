/**
 * What the most expensive request a client can send costs the gateway: a
 * Chat body just under `limits.maxRequestBytes` made of as many tiny list
 * elements as fit (one-letter user messages), so that decoding and
 * validation, which cost per element, do the most work per byte. It is
 * sent in two shapes: 120 000 messages, over `max_items` (refused with
 * `invalid_argument`), and the largest valid shape, 4 096 messages full of
 * tool calls (answered by the fixed upstream). Meanwhile
 * `/healthz` is polled, to show how long other clients wait.
 *
 *   npx tsx bench/worst-case-request.ts [--rounds 3] [--max-request-bytes 4194304]
 *
 * Gateway, upstream and client share this process; the numbers are the
 * request's wall time and the longest `/healthz` answer while it ran.
 */
import { parseArgs } from "node:util";
import { defaultObservability, resolveConfig } from "../server/config/resolved-config.js";
import { startGateway } from "../server/gateway.js";
import { FIXED_MODEL, startFixedUpstream } from "./fixed-upstream.js";

/** The largest body of `element`s (JSON array items) that fits in `maxBytes` around `prefix` and `suffix`. */
function fill(prefix: string, element: string, suffix: string, maxBytes: number): { text: string; count: number } {
  const count = Math.floor((maxBytes - prefix.length - suffix.length) / (element.length + 1));
  return { text: prefix + Array(count).fill(element).join(",") + suffix, count };
}

async function timed(url: string, body: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

/** Polls `/healthz` until `done` settles; the slowest answer, in ms. */
async function slowestHealth(baseUrl: string, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let slowest = 0;
  while (!finished) {
    const started = performance.now();
    await (await fetch(`${baseUrl}/healthz`)).arrayBuffer();
    slowest = Math.max(slowest, performance.now() - started);
  }
  return slowest;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" }, "max-request-bytes": { type: "string", default: String(4 * 1024 * 1024) } } });
  const maxBytes = Number(values["max-request-bytes"]);
  const upstream = await startFixedUpstream();
  const resolved = resolveConfig(undefined, { configPath: undefined, host: "127.0.0.1", port: 0, backends: [{ kind: "openai", url: upstream.url }] }, {});
  const gateway = await startGateway({ ...resolved, maxRequestBytes: maxBytes, observability: { ...defaultObservability, requestLog: false } });
  const chatUrl = `${gateway.url}/protogate.v1.InferenceService/Chat`;
  const message = '{"role":"ROLE_USER","content":"a"}';
  const overLimit = fill(`{"model":"${FIXED_MODEL}","messages":[`, message, "]}", maxBytes - 16);
  // Within every max_items: 4095 assistant messages, as many tool calls each as fit (at most 128), then the user's.
  const call = '{"id":"c","name":"f","arguments":"{}"}';
  const assistantOverhead = '{"role":"ROLE_ASSISTANT","toolCalls":[]},'.length;
  const perMessage = Math.min(128, Math.floor(((maxBytes - 1024) / 4095 - assistantOverhead) / (call.length + 1)));
  const assistant = `{"role":"ROLE_ASSISTANT","toolCalls":[${Array(perMessage).fill(call).join(",")}]}`;
  const withinLimits = { text: `{"model":"${FIXED_MODEL}","messages":[${Array(4095).fill(assistant).join(",")},${message}]}`, count: 4095 * perMessage + 4096 };
  try {
    console.log(`| body | bytes | list elements | status | request ms | slowest /healthz meanwhile, ms |`);
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [name, body, elements] of [
        ["messages over max_items", overLimit.text, overLimit.count],
        ["4096 messages full of tool calls", withinLimits.text, withinLimits.count],
      ] as const) {
        const request = timed(chatUrl, body);
        const health = await slowestHealth(gateway.url, request);
        const { status, ms } = await request;
        console.log(`| ${name} | ${body.length} | ${elements} | ${status} | ${ms.toFixed(0)} | ${health.toFixed(0)} |`);
      }
    }
  } finally {
    await gateway.close();
    await upstream.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
