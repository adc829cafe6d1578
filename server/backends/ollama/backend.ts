import type { ChatRequest } from "../../../gen/protogate/v1/inference_service_pb.js";
import { ModelState } from "../../../gen/protogate/v1/model_service_pb.js";
import type {
  Backend,
  BackendCallOptions,
  BackendChatResult,
  BackendDiscovery,
  BackendModel,
  BackendProbe,
  BackendStreamEvent,
  PreparedChat,
} from "../backend.js";
import { asCount, asObject, asString } from "../json-guards.js";
import { UpstreamError, failedProbe } from "../upstream-failure.js";
import { createToolCallBudget } from "../tool-call-budget.js";
import { type UpstreamResponse, createUpstreamClient, parseUpstreamJson, readBodyText } from "../upstream-http.js";
import { ollamaError } from "./errors.js";
import { capabilitiesFromShow, contextLengthFromShow, namedModels, parseChatLine, toWireRequest } from "./map.js";

/** How to reach one Ollama server. */
export interface OllamaBackendOptions {
  readonly id: string;
  /** Base URL, e.g. http://127.0.0.1:11434. */
  readonly baseUrl: string;
  /** Bearer token, for an Ollama behind an authenticating proxy. */
  readonly apiKey?: string;
  /** The most of an answer read: a whole body, one line of a stream, or a stream's tool calls (default 32 MiB). */
  readonly maxResponseBytes?: number;
}

/**
 * Creates a backend for Ollama's native API. Tool calls arrive whole with
 * their arguments as a JSON object; the raw text of that object is passed
 * on unchanged. Models come from /api/tags (on disk) and /api/ps (loaded).
 *
 * @example
 * const backend = createOllamaBackend({ id: "ollama", baseUrl: "http://127.0.0.1:11434" });
 */
export function createOllamaBackend(options: OllamaBackendOptions): Backend {
  const upstream = createUpstreamClient(options);
  /** /api/show answers by name and digest; they only change when the model does. */
  const showCache = new Map<string, unknown>();

  async function chat(request: ChatRequest, call: BackendCallOptions): Promise<PreparedChat<BackendChatResult>> {
    const { bodyText, warnings } = toWireRequest(request, call.backendModel, false);
    try {
      const parsed = parseChatLine(await upstream.postText("/api/chat", bodyText, call.signal, call.headers));
      const finish = parsed.finish ?? { rawFinishReason: "", usage: undefined, timings: {} };
      return {
        warnings,
        result: { content: parsed.content, reasoning: parsed.reasoning, toolCalls: parsed.toolCalls, ...finish },
      };
    } catch (error) {
      throw ollamaError(error, options.id, call.signal);
    }
  }

  async function chatStream(
    request: ChatRequest,
    call: BackendCallOptions,
  ): Promise<PreparedChat<AsyncIterable<BackendStreamEvent>>> {
    const { bodyText, warnings } = toWireRequest(request, call.backendModel, true);
    let response: UpstreamResponse;
    try {
      response = await upstream.post("/api/chat", bodyText, call.signal, call.headers);
    } catch (error) {
      throw ollamaError(error, options.id, call.signal);
    }
    return { warnings, result: readEvents(response, call.signal) };
  }

  async function* readEvents(response: UpstreamResponse, signal: AbortSignal): AsyncGenerator<BackendStreamEvent> {
    const toolCalls = createToolCallBudget(upstream.maxResponseBytes);
    try {
      for await (const line of response.lines(signal)) {
        if (line.trim() === "") continue;
        const parsed = parseChatLine(line);
        if (parsed.reasoning !== "") yield { kind: "reasoning", text: parsed.reasoning };
        if (parsed.content !== "") yield { kind: "content", text: parsed.content };
        for (const call of parsed.toolCalls) {
          toolCalls.spend(call.id, call.name, call.arguments);
          yield { kind: "tool-call", call };
        }
        if (parsed.finish !== undefined) {
          yield { kind: "finish", ...parsed.finish };
          return;
        }
      }
      throw new UpstreamError({ kind: "truncated", cause: new Error("stream ended without done: true") });
    } catch (error) {
      throw ollamaError(error, options.id, signal);
    }
  }

  async function show(name: string, digest: string, signal: AbortSignal): Promise<unknown> {
    const key = `${name}@${digest}`;
    if (showCache.has(key)) return showCache.get(key);
    try {
      const response = await upstream.post("/api/show", JSON.stringify({ model: name }), signal);
      const body = parseUpstreamJson(await readBodyText(response, signal), "/api/show");
      showCache.set(key, body);
      return body;
    } catch {
      return undefined; // Capabilities stay unknown; the model is still listed.
    }
  }

  async function discover(signal: AbortSignal): Promise<BackendDiscovery> {
    try {
      const [tags, running] = await Promise.all([upstream.getJson("/api/tags", signal), upstream.getJson("/api/ps", signal)]);
      const loaded = new Map(namedModels(running).map(({ name, entry }) => [name, asCount(entry.context_length)]));
      const models = await Promise.all(
        namedModels(tags).map(({ name, entry }) =>
          show(name, asString(entry.digest) ?? "", signal).then((details): BackendModel => {
            const size = asCount(entry.size);
            return {
              name,
              state: loaded.has(name) ? ModelState.LOADED : ModelState.AVAILABLE,
              capabilities: capabilitiesFromShow(details),
              contextLength: loaded.get(name) ?? contextLengthFromShow(details),
              sizeBytes: size === undefined ? undefined : BigInt(size),
            };
          }),
        ),
      );
      return { kind: "reachable", ready: true, models, detail: `${models.length} model(s), ${loaded.size} loaded` };
    } catch (error) {
      return { kind: "unreachable", detail: ollamaError(error, options.id, signal).rawMessage };
    }
  }

  /** `GET /api/version` says Ollama is up; `GET /api/ps` which models are in memory. Ollama loads on demand, so up is ready. */
  async function probe(signal: AbortSignal): Promise<BackendProbe> {
    try {
      const version = asString(asObject(await upstream.getJson("/api/version", signal))?.version);
      if (version === undefined) return { kind: "down", detail: "/api/version did not name a version (not Ollama?)" };
      const running = namedModels(await upstream.getJson("/api/ps", signal)).map(({ name }) => name);
      return { kind: "ready", detail: `Ollama ${version}, ${running.length} loaded`, loadedModels: running };
    } catch (error) {
      return failedProbe(error, (cause) => ollamaError(cause, options.id, signal));
    }
  }

  return { id: options.id, kind: "ollama", baseUrl: upstream.baseUrl, chat, chatStream, discover, probe };
}
