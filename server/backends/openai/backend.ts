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
import { asArray, asCount, asObject, asString } from "../json-guards.js";
import { UpstreamError, failedProbe } from "../upstream-failure.js";
import { createToolCallBudget } from "../tool-call-budget.js";
import { type UpstreamResponse, createUpstreamClient, parseUpstreamJson, readBodyText } from "../upstream-http.js";
import { openAiError } from "./errors.js";
import { type OpenAiFlavour, completionToResult, createChunkMapper, toWireRequest } from "./map.js";

/** How to reach one OpenAI-compatible server. */
export interface OpenAiBackendOptions {
  readonly id: string;
  /** Base URL without `/v1`. */
  readonly baseUrl: string;
  /** Bearer token, if the server wants one. */
  readonly apiKey?: string;
  /** The most of an answer read: a whole body, one line of a stream, or a stream's tool calls (default 32 MiB). */
  readonly maxResponseBytes?: number;
}

/**
 * Creates a backend for servers that speak the OpenAI chat API: llama.cpp
 * `llama-server`, vLLM, LM Studio, SGLang and Ollama's `/v1`. Which server
 * it is (learned from `/v1/models`) only changes parameter names.
 *
 * @example
 * const backend = createOpenAiBackend({ id: "llamacpp", baseUrl: "http://127.0.0.1:8080" });
 */
export function createOpenAiBackend(options: OpenAiBackendOptions): Backend {
  const upstream = createUpstreamClient(options);
  let flavour: OpenAiFlavour = "generic";
  /** The models of the last successful /v1/models, reported as loading while the server loads. */
  let knownModels: readonly BackendModel[] = [];

  const post = (bodyText: string, call: BackendCallOptions) =>
    upstream.post("/v1/chat/completions", bodyText, call.signal, call.headers);

  async function chat(request: ChatRequest, call: BackendCallOptions): Promise<PreparedChat<BackendChatResult>> {
    const { bodyText, warnings } = toWireRequest(request, call.backendModel, false, flavour);
    try {
      const json = parseUpstreamJson(await upstream.postText("/v1/chat/completions", bodyText, call.signal, call.headers), "completion");
      return { warnings, result: completionToResult(json) };
    } catch (error) {
      throw openAiError(error, options.id, call.signal);
    }
  }

  async function chatStream(
    request: ChatRequest,
    call: BackendCallOptions,
  ): Promise<PreparedChat<AsyncIterable<BackendStreamEvent>>> {
    const { bodyText, warnings } = toWireRequest(request, call.backendModel, true, flavour);
    let response: UpstreamResponse;
    try {
      response = await post(bodyText, call);
    } catch (error) {
      throw openAiError(error, options.id, call.signal);
    }
    return { warnings, result: readEvents(response, call.signal) };
  }

  async function* readEvents(response: UpstreamResponse, signal: AbortSignal): AsyncGenerator<BackendStreamEvent> {
    const mapper = createChunkMapper(createToolCallBudget(upstream.maxResponseBytes));
    try {
      if (response.contentType.startsWith("application/json")) {
        // A server that ignores `stream: true` answers with one JSON body. Read as events it would look cut off,
        // be retried, and have the model generate the same answer again, in vain.
        await readBodyText(response, signal); // so the connection goes back to the pool
        throw new UpstreamError({ kind: "protocol", detail: `answered a streaming request with ${response.contentType}, not text/event-stream` });
      }
      for await (const line of response.lines(signal)) {
        if (!line.startsWith("data:")) continue; // comments, event names, blank separators
        const data = line.slice(5).trim();
        if (data === "[DONE]") {
          const finish = mapper.finish() ?? { rawFinishReason: "", usage: undefined, timings: {} };
          yield { kind: "finish", ...finish };
          return;
        }
        yield* mapper.map(parseUpstreamJson(data, "stream chunk"));
      }
      // Some servers close without [DONE]; the answer is complete if a finish reason came.
      const finish = mapper.finish();
      if (finish === undefined) throw new UpstreamError({ kind: "truncated", cause: new Error("stream ended without finish_reason") });
      yield { kind: "finish", ...finish };
    } catch (error) {
      throw openAiError(error, options.id, signal);
    }
  }

  async function discover(signal: AbortSignal): Promise<BackendDiscovery> {
    let models: BackendModel[];
    try {
      const list = asObject(await upstream.getJson("/v1/models", signal, "model list"));
      const entries = asArray(list?.data).map(asObject);
      const owner = asString(entries[0]?.owned_by);
      flavour = owner === "llamacpp" ? "llamacpp" : owner === "vllm" ? "vllm" : "generic";
      models = entries.flatMap((entry) => {
        const name = asString(entry?.id);
        if (name === undefined) return [];
        const meta = asObject(entry?.meta);
        const size = asCount(meta?.size);
        return [
          {
            name,
            // llama.cpp and vLLM serve exactly the models they list; others (LM Studio) list what is on disk.
            state: flavour === "generic" ? ModelState.AVAILABLE : ModelState.LOADED,
            capabilities: {},
            contextLength: asCount(entry?.max_model_len) ?? asCount(meta?.n_ctx_train),
            sizeBytes: size === undefined ? undefined : BigInt(size),
          },
        ];
      });
    } catch (error) {
      // llama.cpp answers every route, /v1/models included, with 503 while it loads the model.
      if (isServiceUnavailable(error)) return notReady(knownModels, "the server is loading the model", ModelState.LOADING);
      const mapped = openAiError(error, options.id, signal);
      return { kind: "unreachable", detail: mapped.rawMessage };
    }
    knownModels = models;
    if (flavour === "generic") return { kind: "reachable", ready: models.length > 0, models, detail: `${models.length} model(s)` };
    return discoverHealth(flavour, models, signal);
  }

  /**
   * Readiness from `/health`: llama.cpp answers 503 while it loads the
   * model; vLLM still lists its model when its engine is dead, and only
   * `/health` tells.
   */
  async function discoverHealth(server: HealthServer, models: BackendModel[], signal: AbortSignal): Promise<BackendDiscovery> {
    const health = await probeHealth(server, signal);
    if (health.kind === "loading") return notReady(models, "llama.cpp is loading the model", ModelState.LOADING);
    if (health.kind !== "ready") return notReady(models, `${productNames[server]} health check failed`, ModelState.UNAVAILABLE);
    return server === "llamacpp"
      ? { kind: "reachable", ready: true, models, detail: "llama.cpp ready" }
      : { kind: "reachable", ready: models.length > 0, models, detail: `${models.length} model(s)` };
  }

  /**
   * llama.cpp and vLLM: `GET /health`. Other servers (and llama.cpp before
   * the first discovery told which server it is): `GET /v1/models`.
   */
  async function probe(signal: AbortSignal): Promise<BackendProbe> {
    const server = flavour;
    if (server !== "generic") return probeHealth(server, signal);
    try {
      const count = asArray(asObject(await upstream.getJson("/v1/models", signal, "model list"))?.data).length;
      return count > 0 ? { kind: "ready", detail: `${count} model(s)` } : { kind: "not-ready", detail: "no models listed" };
    } catch (error) {
      return probeFailure(error, server, signal);
    }
  }

  async function probeHealth(server: HealthServer, signal: AbortSignal): Promise<BackendProbe> {
    try {
      await upstream.getText("/health", signal);
      return { kind: "ready", detail: `${productNames[server]} /health ok` };
    } catch (error) {
      return probeFailure(error, server, signal);
    }
  }

  /** A 503 means loading (llama.cpp, or a server not identified yet), except from vLLM, whose engine is then dead. */
  function probeFailure(error: unknown, server: OpenAiFlavour, signal: AbortSignal): BackendProbe {
    if (isServiceUnavailable(error)) {
      return server === "vllm" ? { kind: "not-ready", detail: "vLLM health check failed (HTTP 503)" } : { kind: "loading", detail: "the server is loading the model" };
    }
    return failedProbe(error, (cause) => openAiError(cause, options.id, signal));
  }

  /** A server that answers but cannot serve yet: its models are listed in `state`. */
  function notReady(models: readonly BackendModel[], detail: string, state: ModelState): BackendDiscovery {
    return { kind: "reachable", ready: false, models: models.map((model) => ({ ...model, state })), detail };
  }

  return {
    id: options.id,
    kind: "openai",
    baseUrl: upstream.baseUrl,
    chat,
    chatStream,
    discover,
    probe,
  };
}

/** The servers that have a `/health` endpoint, and their names in details. */
type HealthServer = Exclude<OpenAiFlavour, "generic">;
const productNames: Readonly<Record<HealthServer, string>> = { llamacpp: "llama.cpp", vllm: "vLLM" };

/** Whether a failure is an HTTP 503: the server is up but not ready (llama.cpp while loading). */
function isServiceUnavailable(error: unknown): boolean {
  return error instanceof UpstreamError && error.failure.kind === "http" && error.failure.status === 503;
}
