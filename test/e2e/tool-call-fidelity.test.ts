import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer, type Server } from "node:net";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import {
  ArgumentsStatus,
  type ChatRequestSchema,
  type ChatStreamResponse,
  FinishReason,
  type ProtogateClient,
  Role,
  type ToolCall,
  type Warning,
  WarningCode,
} from "../../sdk/index.js";
import { collect } from "../helpers/async-outcomes.js";
import { createE2eClient, type E2eTransport, e2eTransports } from "../helpers/e2e-clients.js";
import {
  createOllamaFake,
  createOpenAiFake,
  type FakeToolCall,
  type FakeUpstreamBase,
  generateToolCallId,
} from "../helpers/fake-upstream/index.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

/**
 * Argument text that breaks naive gateways: integer-like keys that
 * JSON.parse reorders, `1.0` and a 64-bit integer that re-serialisation
 * rewrites, BMP and astral characters, and escapes (`\"`, `\\n`, `\u00e9`,
 * `\/`) that must stay escaped exactly as sent.
 */
const trickyArguments = String.raw`{"10":"ten","2":1.0,"big":12345678901234567890,"text":"naïve 漢字 😀 𝄞 \"quoted\" line\\nbreak \u00e9 a\/b","nested":{"list":[1.50,-0,2e10,true,null]}}`;
/** A second, plainer call for the parallel case. */
const secondArguments = String.raw`{"city":"Zürich","units":"metric","days":3}`;

/** One backend of the matrix: which fake, which model, and what its wire looks like. */
interface BackendCase {
  readonly label: string;
  readonly backendId: "llamacpp" | "vllm" | "ollama";
  readonly model: string;
  readonly chatPath: string;
  /** The finish reason the backend reports after tool calls (Ollama says "stop"). */
  readonly rawFinishReason: string;
  /** A tool-call id in the backend's own format. */
  readonly makeId: () => string;
}

const backendCases: readonly BackendCase[] = [
  {
    label: "llama.cpp",
    backendId: "llamacpp",
    model: "qwen2.5-7b-instruct-q4_k_m.gguf",
    chatPath: "/v1/chat/completions",
    rawFinishReason: "tool_calls",
    makeId: () => generateToolCallId("llamacpp"),
  },
  {
    label: "vLLM",
    backendId: "vllm",
    model: "Qwen/Qwen3-0.6B",
    chatPath: "/v1/chat/completions",
    rawFinishReason: "tool_calls",
    makeId: () => generateToolCallId("vllm"),
  },
  {
    label: "Ollama",
    backendId: "ollama",
    model: "qwen3:0.6b",
    chatPath: "/api/chat",
    rawFinishReason: "stop",
    makeId: () => `call_${randomBytes(4).toString("hex")}`,
  },
];

const modes = ["unary Chat", "streaming ChatStream"] as const;
type Mode = (typeof modes)[number];

/** What one chat produced, the same shape for unary and streaming calls. */
interface ChatOutcome {
  readonly calls: readonly ToolCall[];
  readonly finishReason: FinishReason;
  readonly rawFinishReason: string;
  readonly warnings: readonly Warning[];
}

describe("tool calls pass through the gateway byte-identical and are never executed", () => {
  const fakes = new Map<BackendCase["backendId"], FakeUpstreamBase>();
  const clients = new Map<string, ProtogateClient>();
  let gateway: RunningGateway;
  /** Stands in for whatever a tool would reach; the gateway must never connect to it. */
  let toolEndpoint: Server;
  let toolEndpointConnections = 0;
  let toolEndpointUrl: string;

  beforeAll(async () => {
    toolEndpoint = createServer((socket) => {
      toolEndpointConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => toolEndpoint.listen(0, "127.0.0.1", resolve));
    toolEndpointUrl = `http://127.0.0.1:${(toolEndpoint.address() as AddressInfo).port}/run`;

    fakes.set("llamacpp", await createOpenAiFake({ flavour: "llamacpp", models: ["qwen2.5-7b-instruct-q4_k_m.gguf"] }));
    fakes.set("vllm", await createOpenAiFake({ flavour: "vllm", models: ["Qwen/Qwen3-0.6B"] }));
    fakes.set("ollama", await createOllamaFake({ models: [{ name: "qwen3:0.6b", capabilities: ["completion", "tools"] }] }));
    gateway = await startTestGateway({
      backends: [
        { id: "llamacpp", kind: "openai", url: fakeOf("llamacpp").url },
        { id: "vllm", kind: "openai", url: fakeOf("vllm").url },
        { id: "ollama", kind: "ollama", url: fakeOf("ollama").url },
      ],
      // No periodic rediscovery during the run, so every upstream request is a chat.
      overrides: { discoveryIntervalMs: 3_600_000 },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([...fakes.values()].map((fake) => fake.close()));
    await new Promise<void>((resolve) => toolEndpoint.close(() => resolve()));
  });

  function fakeOf(id: BackendCase["backendId"]): FakeUpstreamBase {
    const fake = fakes.get(id);
    if (fake === undefined) throw new Error(`no fake for ${id}`);
    return fake;
  }

  function clientFor(transport: E2eTransport): ProtogateClient {
    let client = clients.get(transport.name);
    if (client === undefined) {
      client = createE2eClient(gateway.url, transport);
      clients.set(transport.name, client);
    }
    return client;
  }

  function chatRequest(model: string): MessageInitShape<typeof ChatRequestSchema> {
    return {
      model,
      messages: [{ role: Role.USER, content: "What is the weather in Zürich? Also run the report." }],
      tools: [
        {
          name: "get_weather",
          description: `Looks up the weather by calling ${toolEndpointUrl}`,
          parametersJson: '{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}',
        },
        { name: "run_report", description: `Runs a report at ${toolEndpointUrl}`, parametersJson: '{"type":"object"}' },
      ],
    };
  }

  async function chat(client: ProtogateClient, mode: Mode, model: string): Promise<ChatOutcome> {
    if (mode === "unary Chat") {
      const response = await client.inference.chat(chatRequest(model));
      return {
        calls: response.message?.toolCalls ?? [],
        finishReason: response.finishReason,
        rawFinishReason: response.rawFinishReason,
        warnings: response.warnings,
      };
    }
    const events = await collect(client.inference.chatStream(chatRequest(model)));
    const calls = expectDeltasMatchCompleteCalls(events);
    const end = events.at(-1)?.event;
    if (end?.case !== "end") throw new Error(`the stream did not end with an end event: ${end?.case}`);
    return { calls, finishReason: end.value.finishReason, rawFinishReason: end.value.rawFinishReason, warnings: end.value.warnings };
  }

  /** Upstream request counts before a chat, to check what the chat caused. */
  function requestCounts(): Map<string, number> {
    return new Map([...fakes].map(([id, fake]) => [id, fake.requests.length]));
  }

  /** The chat caused exactly one upstream request, to the chosen backend's chat route, and nothing else. */
  function expectExactlyOneChatRequest(backend: BackendCase, before: Map<string, number>): void {
    for (const [id, fake] of fakes) {
      const added = fake.requests.slice(before.get(id));
      if (id !== backend.backendId) {
        expect(added, `requests to ${id}`).toEqual([]);
        continue;
      }
      expect(added.map((request) => `${request.method} ${request.path}`)).toEqual([`POST ${backend.chatPath}`]);
      const body = added[0]?.body as { tools?: Array<{ function?: { name?: string } }> } | undefined;
      expect(body?.tools?.map((tool) => tool.function?.name)).toEqual(["get_weather", "run_report"]);
    }
    expect(toolEndpointConnections).toBe(0);
  }

  describe.each(backendCases)("$label backend", (backend) => {
    describe.each(e2eTransports)("over $name", (transport) => {
      it.each(modes)("%s returns parallel calls with exact ids, names and argument text", async (mode) => {
        const ids = [backend.makeId(), backend.makeId()];
        const scripted: FakeToolCall[] = [
          { id: ids[0] as string, name: "get_weather", argumentsText: trickyArguments },
          { id: ids[1] as string, name: "run_report", argumentsText: secondArguments },
        ];
        fakeOf(backend.backendId).enqueue({ kind: "reply", toolCalls: scripted, fragmentSize: 3 });
        const before = requestCounts();

        const outcome = await chat(clientFor(transport), mode, backend.model);

        expect(outcome.calls.map(callFields)).toEqual([
          { id: ids[0], name: "get_weather", arguments: trickyArguments, argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT, idSynthesized: false },
          { id: ids[1], name: "run_report", arguments: secondArguments, argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT, idSynthesized: false },
        ]);
        expect(outcome.finishReason).toBe(FinishReason.TOOL_CALLS);
        expect(outcome.rawFinishReason).toBe(backend.rawFinishReason);
        expect(outcome.warnings).toEqual([]);
        expectExactlyOneChatRequest(backend, before);
      });

      it.each(modes)("%s synthesizes a missing id and says so in a warning", async (mode) => {
        const id = backend.makeId();
        fakeOf(backend.backendId).enqueue({
          kind: "reply",
          toolCalls: [
            { name: "get_weather", argumentsText: secondArguments },
            { id, name: "run_report", argumentsText: trickyArguments },
          ],
        });
        const before = requestCounts();

        const outcome = await chat(clientFor(transport), mode, backend.model);

        const [synthesized, kept] = outcome.calls;
        expect(synthesized?.id).toMatch(/^call_[0-9a-f]{24}$/);
        expect(outcome.calls.map(callFields)).toEqual([
          { id: synthesized?.id, name: "get_weather", arguments: secondArguments, argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT, idSynthesized: true },
          { id, name: "run_report", arguments: trickyArguments, argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT, idSynthesized: false },
        ]);
        expect(kept?.id).not.toBe(synthesized?.id);
        expect(outcome.warnings.map(warningFields)).toEqual([
          {
            code: WarningCode.TOOL_CALL_ID_SYNTHESIZED,
            field: "tool_calls[0].id",
            message: "the backend sent tool call 0 without an id; the gateway made one up",
          },
        ]);
        expect(outcome.finishReason).toBe(FinishReason.TOOL_CALLS);
        expect(outcome.rawFinishReason).toBe(backend.rawFinishReason);
        expectExactlyOneChatRequest(backend, before);
      });
    });
  });
});

function callFields(call: ToolCall) {
  return { id: call.id, name: call.name, arguments: call.arguments, argumentsStatus: call.argumentsStatus, idSynthesized: call.idSynthesized };
}

function warningFields(warning: Warning) {
  return { code: warning.code, field: warning.field, message: warning.message };
}

/**
 * Checks a stream's shape (start first, end last) and that the tool-call
 * deltas of each index, concatenated, are exactly the complete call that
 * follows them; returns the complete calls in order.
 */
function expectDeltasMatchCompleteCalls(events: readonly ChatStreamResponse[]): ToolCall[] {
  expect(events[0]?.event.case).toBe("start");
  expect(events.at(-1)?.event.case).toBe("end");
  const assembled = new Map<number, { id: string; name: string; arguments: string; lastPosition: number }>();
  const complete: ToolCall[] = [];
  events.forEach((response, position) => {
    const event = response.event;
    if (event.case === "toolCallDelta") {
      const delta = event.value;
      const open = assembled.get(delta.index);
      if (open === undefined) {
        assembled.set(delta.index, { id: delta.id, name: delta.name, arguments: delta.argumentsFragment, lastPosition: position });
      } else {
        // Only the first delta of an index carries the id and the name.
        expect({ id: delta.id, name: delta.name }).toEqual({ id: "", name: "" });
        open.arguments += delta.argumentsFragment;
        open.lastPosition = position;
      }
    }
    if (event.case === "toolCall") {
      const call = event.value.call;
      if (call === undefined) throw new Error("a toolCall event without its call");
      expect(event.value.index).toBe(complete.length);
      const deltas = assembled.get(event.value.index);
      expect(deltas?.lastPosition).toBeLessThan(position);
      expect({ name: deltas?.name, arguments: deltas?.arguments }).toEqual({ name: call.name, arguments: call.arguments });
      // Also a synthesized id: the first delta already shows the id the complete call keeps.
      expect(deltas?.id).toBe(call.id);
      complete.push(call);
    }
  });
  expect([...assembled.keys()]).toEqual(complete.map((_, index) => index));
  return complete;
}
