import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBareProxy } from "../../bench/bare-proxy.js";
import { startContractProxy } from "../../bench/contract-proxy.js";
import { FIXED_CONTENT, FIXED_MODEL, type FixedUpstream, startFixedUpstream } from "../../bench/fixed-upstream.js";

// The benchmark's floors are only meaningful if they do the work they claim:
// the contract proxy must decode strictly and validate, the bare proxy must not.
describe("benchmark floors", () => {
  let upstream: FixedUpstream;
  const proxies: Array<{ url: string; close(): Promise<void> }> = [];
  let contractUrl = "";
  let bareUrl = "";

  beforeAll(async () => {
    upstream = await startFixedUpstream();
    const contract = await startContractProxy(upstream.url);
    const bare = await startBareProxy(upstream.url);
    proxies.push(contract, bare);
    contractUrl = contract.url;
    bareUrl = bare.url;
  });
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
    await upstream.close();
  });

  const post = (url: string, body: unknown) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const chat = { model: FIXED_MODEL, messages: [{ role: "ROLE_USER", content: "hi" }] };

  it("the contract proxy answers a valid Chat with a ChatResponse in protobuf JSON", async () => {
    const response = await post(contractUrl, chat);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      model: FIXED_MODEL,
      message: { content: FIXED_CONTENT },
      finishReason: "FINISH_REASON_STOP",
      usage: { promptTokens: expect.any(Number), totalTokens: expect.any(Number) },
    });
  });

  it.each([
    ["an unknown field", { ...chat, temprature: 1 }, /temprature/],
    ["a rule the proto sets (no messages)", { ...chat, messages: [] }, /messages/],
  ])("the contract proxy refuses %s, as protogate does", async (_what, body, reason) => {
    const before = upstream.chatCount();
    const response = await post(contractUrl, body);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(reason);
    expect(upstream.chatCount()).toBe(before);
  });

  it("the bare proxy checks nothing: a request with an unknown field still goes upstream", async () => {
    const before = upstream.chatCount();
    const response = await post(bareUrl, { ...chat, temprature: 1 });
    expect(response.status).toBe(200);
    expect(upstream.chatCount()).toBe(before + 1);
  });
});
