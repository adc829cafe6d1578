import { Agent, request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import {
  createOllamaFake,
  createOpenAiFake,
  LLAMACPP_BUILD_INFO,
  splitFragments,
} from "./fake-upstream/index.js";
import type { FakeUpstreamBase } from "./fake-upstream/index.js";

const running: FakeUpstreamBase[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((fake) => fake.close()));
});

async function openAi(flavour: "llamacpp" | "vllm", models?: string[]) {
  const fake = await createOpenAiFake(models === undefined ? { flavour } : { flavour, models });
  running.push(fake);
  return fake;
}

async function ollama(options?: Parameters<typeof createOllamaFake>[0]) {
  const fake = await createOllamaFake(options);
  running.push(fake);
  return fake;
}

function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  const init: RequestInit = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
  if (signal !== undefined) {
    init.signal = signal;
  }
  return fetch(url, init);
}

/** Read a body until it ends or the connection breaks. */
async function readUntilFailure(response: Response): Promise<{ text: string; failed: boolean }> {
  const body = response.body;
  if (body === null) {
    return { text: "", failed: false };
  }
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return { text, failed: false };
      }
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, failed: true };
  }
}

/** The envelope fields of the first SSE event, which every event repeats. */
function firstEvent(text: string): { id: string; created: number } {
  const json = text.slice("data: ".length, text.indexOf("\n\n"));
  const parsed = JSON.parse(json) as { id: string; created: number };
  return { id: parsed.id, created: parsed.created };
}

const USER = [{ role: "user", content: "hi" }];
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

/** Replace Ollama's per-line timestamps (checked for format) with `T`. */
function withoutTimestamps(text: string): string {
  return text.replace(/"created_at":"([^"]*)"/g, (_match, stamp: string) => {
    expect(stamp).toMatch(RFC3339_NANO);
    expect(stamp.endsWith("0Z")).toBe(false); // Go trims trailing zeros
    return '"created_at":"T"';
  });
}

describe("llama.cpp fake", () => {
  it("streams a fragmented tool call with llama.cpp's exact SSE framing", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({
      kind: "reply",
      toolCalls: [{ id: "call_abc", name: "get_weather", argumentsText: '{"city":"Paris"}' }],
      fragmentSize: 5,
    });

    const response = await post(`${fake.url}/v1/chat/completions`, { model: "m", stream: true, messages: USER });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("server")).toBe("llama.cpp");
    const text = await response.text();

    const { id, created } = firstEvent(text);
    expect(id).toMatch(/^chatcmpl-[0-9A-Za-z]{32}$/);
    const envelope = `"created":${created},"id":"${id}","model":"m","system_fingerprint":"${LLAMACPP_BUILD_INFO}","object":"chat.completion.chunk"`;
    const event = (choice: string, extra = ""): string => `data: {"choices":[${choice}],${envelope}${extra}}\n\n`;
    const fragment = (args: string): string =>
      event(`{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(args)}}}]}}`);
    expect(text).toBe(
      [
        event('{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}'),
        event(
          '{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]}}',
        ),
        fragment('{"cit'),
        fragment('y":"P'),
        fragment('aris"'),
        fragment("}"),
        event(
          '{"finish_reason":"tool_calls","index":0,"delta":{}}',
          ',"timings":{"cache_n":0,"prompt_n":10,"prompt_ms":12.5,"prompt_per_token_ms":1.25,"prompt_per_second":800,"predicted_n":4,"predicted_ms":32,"predicted_per_token_ms":8,"predicted_per_second":125}',
        ),
        "data: [DONE]\n\n",
      ].join(""),
    );
  });

  it("answers 503 on every route while loading, then serves the queued script once ready", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({ kind: "reply", content: "after load" });
    fake.setLoading(true);
    const loadingBody = '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}';

    const health = await fetch(`${fake.url}/health`);
    expect(health.status).toBe(503);
    expect(health.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await health.text()).toBe(loadingBody);
    const chat = await post(`${fake.url}/v1/chat/completions`, { messages: USER });
    expect(chat.status).toBe(503);
    expect(await chat.text()).toBe(loadingBody);

    fake.setLoading(false);
    const ready = await fetch(`${fake.url}/health`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('{"status":"ok"}');
    const answer = (await (await post(`${fake.url}/v1/chat/completions`, { messages: USER })).json()) as {
      choices: Array<{ message: { content: string } }>;
    };
    expect(answer.choices[0]?.message.content).toBe("after load");
    expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "GET /health",
      "POST /v1/chat/completions",
      "GET /health",
      "POST /v1/chat/completions",
    ]);
  });

  it("sends a mid-stream failure as a data: {error} event and ends without [DONE]", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({ kind: "midstream-error", afterChunks: 2, message: "context shift failed" });

    const response = await post(`${fake.url}/v1/chat/completions`, { stream: true, messages: USER });
    expect(response.status).toBe(200);
    const text = await response.text();
    const events = text.split("\n\n");
    expect(events).toHaveLength(4); // role, "Hell", error, trailing ""
    expect(events[1]).toContain('"delta":{"content":"Hell"}');
    expect(events[2]).toBe('data: {"error":{"code":500,"message":"context shift failed","type":"server_error"}}');
    expect(events[3]).toBe("");
  });

  it("drops the connection after N events without a terminator", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({ kind: "drop", afterChunks: 2, content: "abcdefgh" });

    const response = await post(`${fake.url}/v1/chat/completions`, { stream: true, messages: USER });
    const { text, failed } = await readUntilFailure(response);
    expect(failed).toBe(true);
    const events = text.split("\n\n");
    expect(events).toHaveLength(3);
    expect(events[0]).toContain('"delta":{"role":"assistant","content":null}');
    expect(events[1]).toContain('"delta":{"content":"abcd"}');
    expect(events[2]).toBe("");
    expect(fake.abortedRequests).toBe(0); // the fake dropped it; the client did not go away
  });

  it("answers non-streaming requests with llama.cpp's chat.completion field order", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({
      kind: "reply",
      reasoning: "think",
      toolCalls: [{ id: "x1", name: "f", argumentsText: '{"n":12345678901234567890}' }],
      usage: { prompt: 7, completion: 3 },
    });
    const response = await post(`${fake.url}/v1/chat/completions`, { model: "m", messages: USER });
    expect(response.headers.get("content-length")).not.toBeNull();
    const text = await response.text();
    expect(text).toContain(
      '"message":{"role":"assistant","reasoning_content":"think","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{\\"n\\":12345678901234567890}"},"id":"x1"}]}',
    );
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      "choices",
      "created",
      "model",
      "system_fingerprint",
      "object",
      "usage",
      "id",
      "timings",
    ]);
    expect(text).toContain('"usage":{"completion_tokens":3,"prompt_tokens":7,"total_tokens":10}');
  });
});

describe("vLLM fake", () => {
  it("streams parallel tool calls with vLLM's exact SSE framing and the usage chunk", async () => {
    const fake = await openAi("vllm");
    fake.enqueue({
      kind: "reply",
      toolCalls: [
        { id: "chatcmpl-tool-aaa", name: "get_weather", argumentsText: '{"city":"Paris"}' },
        { id: "chatcmpl-tool-bbb", name: "get_time", argumentsText: '{"tz":"CET"}' },
      ],
      fragmentSize: 8,
    });

    const response = await post(`${fake.url}/v1/chat/completions`, {
      model: "Qwen/Qwen3-0.6B",
      stream: true,
      stream_options: { include_usage: true },
      messages: USER,
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const text = await response.text();
    const { id, created } = firstEvent(text);
    expect(id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"Qwen/Qwen3-0.6B","choices":[`;
    const event = (delta: string): string =>
      `data: ${head}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}]}\n\n`;
    const args = (index: number, fragment: string): string =>
      event(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(fragment)}}}]}`);
    expect(text).toBe(
      [
        event('{"role":"assistant","content":""}'),
        event('{"tool_calls":[{"id":"chatcmpl-tool-aaa","type":"function","index":0,"function":{"name":"get_weather"}}]}'),
        args(0, '{"city":'),
        args(0, '"Paris"}'),
        event('{"tool_calls":[{"id":"chatcmpl-tool-bbb","type":"function","index":1,"function":{"name":"get_time"}}]}'),
        args(1, '{"tz":"C'),
        args(1, 'ET"}'),
        `data: ${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls","stop_reason":null}]}\n\n`,
        `data: ${head}],"usage":{"prompt_tokens":10,"total_tokens":14,"completion_tokens":4}}\n\n`,
        "data: [DONE]\n\n",
      ].join(""),
    );
  });

  it("can send every parallel call with index 0, as Ollama's /v1 does", async () => {
    const fake = await openAi("vllm");
    fake.enqueue({
      kind: "reply",
      toolCalls: [
        { name: "a", argumentsText: "{}", index: 0 },
        { name: "b", argumentsText: "{}", index: 0 },
      ],
    });
    const text = await (await post(`${fake.url}/v1/chat/completions`, { stream: true, messages: USER })).text();
    expect(text).toContain('"delta":{"tool_calls":[{"type":"function","index":0,"function":{"name":"a"}}]}');
    expect(text).toContain('"delta":{"tool_calls":[{"type":"function","index":0,"function":{"name":"b"}}]}');
    expect(text).not.toContain('"index":1');
  });

  it("sends a mid-stream failure as Python-dumped JSON followed by [DONE]", async () => {
    const fake = await openAi("vllm");
    fake.enqueue({ kind: "midstream-error", afterChunks: 1, message: "engine died é" });
    const text = await (await post(`${fake.url}/v1/chat/completions`, { stream: true, messages: USER })).text();
    const events = text.split("\n\n");
    expect(events.slice(1)).toEqual([
      'data: {"error": {"message": "engine died \\u00e9", "type": "BadRequestError", "param": null, "code": 400}}',
      "data: [DONE]",
      "",
    ]);
  });

  it("answers 404 for an unknown model and reports health like vLLM", async () => {
    const fake = await openAi("vllm", ["served-model"]);
    const missing = await post(`${fake.url}/v1/chat/completions`, { model: "other", messages: USER });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe(
      '{"error":{"message":"The model `other` does not exist.","type":"NotFoundError","param":null,"code":404}}',
    );

    const healthy = await fetch(`${fake.url}/health`);
    expect(healthy.status).toBe(200);
    expect(await healthy.text()).toBe("");
    fake.setLoading(true);
    const unhealthy = await fetch(`${fake.url}/health`);
    expect(unhealthy.status).toBe(503);
    expect(await unhealthy.text()).toBe("");
    expect((await post(`${fake.url}/v1/chat/completions`, { messages: USER })).status).toBe(503);

    const models = (await (await fetch(`${fake.url}/v1/models`)).json()) as {
      data: Array<{ id: string; owned_by: string; max_model_len: number }>;
    };
    expect(models.data.map((model) => [model.id, model.owned_by, model.max_model_len])).toEqual([
      ["served-model", "vllm", 4096],
    ]);
    const unknown = await fetch(`${fake.url}/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('{"detail":"Not Found"}');
  });
});

describe("Ollama fake", () => {
  const ARGS = '{"10":1,"2":1.0,"n":12345678901234567890}';

  it("streams a tool call whole, with object arguments spliced in verbatim", async () => {
    const fake = await ollama({ models: [{ name: "qwen3:0.6b" }] });
    fake.enqueue({ kind: "reply", toolCalls: [{ id: "call_x", name: "add", argumentsText: ARGS }] });

    const response = await post(`${fake.url}/api/chat`, { model: "qwen3:0.6b", messages: USER });
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const text = await response.text();
    expect(text).toContain(`"arguments":${ARGS}}`);
    expect(withoutTimestamps(text)).toBe(
      [
        `{"model":"qwen3:0.6b","created_at":"T","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x","function":{"index":0,"name":"add","arguments":${ARGS}}}]},"done":false}`,
        '{"model":"qwen3:0.6b","created_at":"T","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":41687292,"load_duration":21187292,"prompt_eval_count":10,"prompt_eval_duration":12500000,"eval_count":1,"eval_duration":8000000}',
        "",
      ].join("\n"),
    );
  });

  it("puts verbatim arguments, thinking and content in one object when stream is false", async () => {
    const fake = await ollama();
    fake.enqueue({
      kind: "reply",
      reasoning: "a<b",
      content: "ok",
      toolCalls: [{ name: "add", argumentsText: ARGS }],
    });
    const response = await post(`${fake.url}/api/chat`, { model: "llama3.2:1b", messages: USER, stream: false });
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(withoutTimestamps(await response.text())).toBe(
      `{"model":"llama3.2:1b","created_at":"T","message":{"role":"assistant","content":"ok","thinking":"a\\u003cb","tool_calls":[{"function":{"index":0,"name":"add","arguments":${ARGS}}}]},"done_reason":"stop","done":true,"total_duration":57687292,"load_duration":21187292,"prompt_eval_count":10,"prompt_eval_duration":12500000,"eval_count":3,"eval_duration":24000000}`,
    );
  });

  it("sends a mid-stream failure as an {error} line under HTTP 200", async () => {
    const fake = await ollama();
    fake.enqueue({ kind: "midstream-error", afterChunks: 2, message: "llama runner process has terminated" });
    const response = await post(`${fake.url}/api/chat`, { model: "llama3.2:1b", messages: USER });
    expect(response.status).toBe(200);
    const lines = withoutTimestamps(await response.text()).split("\n");
    expect(lines).toEqual([
      '{"model":"llama3.2:1b","created_at":"T","message":{"role":"assistant","content":"Hell"},"done":false}',
      '{"model":"llama3.2:1b","created_at":"T","message":{"role":"assistant","content":"o fr"},"done":false}',
      '{"error":"llama runner process has terminated"}',
      "",
    ]);
  });

  it("notices a client that goes away while the stream hangs", async () => {
    const fake = await ollama();
    fake.enqueue({ kind: "hang", afterChunks: 1 });
    const controller = new AbortController();
    const response = await post(`${fake.url}/api/chat`, { model: "llama3.2:1b", messages: USER }, controller.signal);
    const body = response.body;
    if (body === null) {
      throw new Error("expected a streamed body");
    }
    const first = await body.getReader().read();
    expect(new TextDecoder().decode(first.value)).toContain('"content":"Hell"');
    expect(fake.abortedRequests).toBe(0);

    const aborted = fake.waitForAbort();
    controller.abort();
    await aborted;
    expect(fake.abortedRequests).toBe(1);
  });

  it("serves the lifecycle routes: tags, ps, show, load and unload", async () => {
    const fake = await ollama({
      models: [
        { name: "qwen3:0.6b", capabilities: ["completion", "tools", "thinking"], contextLength: 40960 },
        { name: "llama3.2:1b", loaded: true },
      ],
    });
    const root = await fetch(`${fake.url}/`);
    expect(root.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await root.text()).toBe("Ollama is running");
    expect(await (await fetch(`${fake.url}/api/version`)).text()).toBe('{"version":"0.12.3"}');

    const tags = (await (await fetch(`${fake.url}/api/tags`)).json()) as {
      models: Array<{ name: string; details: { format: string; family: string } }>;
    };
    expect(tags.models.map((model) => [model.name, model.details.format, model.details.family])).toEqual([
      ["qwen3:0.6b", "gguf", "qwen3"],
      ["llama3.2:1b", "gguf", "llama"],
    ]);
    const psNames = async (): Promise<string[]> =>
      ((await (await fetch(`${fake.url}/api/ps`)).json()) as { models: Array<{ name: string }> }).models.map(
        (model) => model.name,
      );
    expect(await psNames()).toEqual(["llama3.2:1b"]);

    const load = await post(`${fake.url}/api/chat`, { model: "qwen3:0.6b", messages: [] });
    expect(withoutTimestamps(await load.text())).toBe(
      '{"model":"qwen3:0.6b","created_at":"T","message":{"role":"assistant","content":""},"done_reason":"load","done":true}',
    );
    expect(await psNames()).toEqual(["llama3.2:1b", "qwen3:0.6b"]);
    const unload = await post(`${fake.url}/api/chat`, { model: "qwen3:0.6b", messages: [], keep_alive: 0 });
    expect(await unload.text()).toContain('"done_reason":"unload","done":true}');
    expect(fake.loadedModels).toEqual(["llama3.2:1b"]);

    const show = (await (await post(`${fake.url}/api/show`, { model: "qwen3:0.6b" })).json()) as {
      capabilities: string[];
      model_info: Record<string, unknown>;
    };
    expect(show.capabilities).toEqual(["completion", "tools", "thinking"]);
    expect(show.model_info["qwen3.context_length"]).toBe(40960);
    const missingShow = await post(`${fake.url}/api/show`, { model: "nope" });
    expect(missingShow.status).toBe(404);
    expect(await missingShow.text()).toBe(`{"error":"model 'nope' not found"}`);
    const missingChat = await post(`${fake.url}/api/chat`, { model: "nope", messages: USER });
    expect(missingChat.status).toBe(404);
    expect(await missingChat.text()).toBe('{"error":"model \\"nope\\" not found, try pulling it first"}');
    const unknownRoute = await fetch(`${fake.url}/api/nope`);
    expect(unknownRoute.status).toBe(404);
    expect(await unknownRoute.text()).toBe("404 page not found");
  });
});

describe("shared fake behaviour", () => {
  it("counts an abort of a non-streaming request that never got headers", async () => {
    const fake = await openAi("vllm");
    fake.enqueue({ kind: "hang" });
    const controller = new AbortController();
    const pending = post(`${fake.url}/v1/chat/completions`, { messages: USER }, controller.signal);
    await fake.waitForRequest(0);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await fake.waitForAbort(); // the abort may already have been seen; it is still delivered once
    expect(fake.abortedRequests).toBe(1);
  });

  it("does not count responses cut off by close() as aborts", async () => {
    const fake = await createOllamaFake();
    fake.enqueue({ kind: "hang" });
    const pending = post(`${fake.url}/api/chat`, { model: "llama3.2:1b", messages: USER, stream: false });
    await fake.waitForRequest(0);
    await fake.close();
    await expect(pending).rejects.toThrow();
    expect(fake.abortedRequests).toBe(0);
  });

  it("keeps connections alive between requests", async () => {
    const fake = await openAi("llamacpp");
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const request = httpRequest(
          `${fake.url}/v1/chat/completions`,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (response) => {
            let text = "";
            response.setEncoding("utf8");
            response.on("data", (piece: string) => {
              text += piece;
            });
            response.on("end", () => resolve(text));
          },
        );
        request.on("error", reject);
        request.end(body);
      });
    try {
      await send(JSON.stringify({ messages: USER }));
      await send(JSON.stringify({ messages: USER, stream: true }));
      await send(JSON.stringify({ messages: USER }));
    } finally {
      agent.destroy();
    }
    expect(fake.connectionCount).toBe(1);
  });

  it("records method, path, headers and the parsed body", async () => {
    const fake = await openAi("llamacpp");
    await (await post(`${fake.url}/v1/chat/completions?x=1`, { messages: USER })).text();
    const [recorded] = fake.requests;
    expect(recorded?.method).toBe("POST");
    expect(recorded?.path).toBe("/v1/chat/completions?x=1");
    expect(recorded?.headers["content-type"]).toBe("application/json");
    expect(recorded?.body).toEqual({ messages: USER });
    expect(recorded?.bodyText).toBe(JSON.stringify({ messages: USER }));
  });

  it("answers http-error and raw scripts with the given status, headers and bytes", async () => {
    const fake = await openAi("llamacpp");
    fake.enqueue({ kind: "http-error", status: 429, headers: { "Retry-After": "2" } });
    fake.enqueue({ kind: "raw", status: 502, headers: { "content-type": "text/html" }, body: "<html>bad gateway</html>" });

    const limited = await post(`${fake.url}/v1/chat/completions`, { messages: USER });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("2");
    expect(await limited.text()).toBe('{"error":{"code":429,"message":"Too Many Requests","type":"server_error"}}');
    const raw = await post(`${fake.url}/v1/chat/completions`, { messages: USER });
    expect(raw.status).toBe(502);
    expect(raw.headers.get("content-type")).toBe("text/html");
    expect(await raw.text()).toBe("<html>bad gateway</html>");
  });

  it("never splits a surrogate pair when fragmenting", () => {
    expect(splitFragments("Hello from fake", 4)).toEqual(["Hell", "o fr", "om f", "ake"]);
    expect(splitFragments("a😀b😀", 2)).toEqual(["a😀", "b😀"]);
    expect(splitFragments("😀😀", 1)).toEqual(["😀", "😀"]);
    expect(splitFragments("", 4)).toEqual([]);
  });
});
