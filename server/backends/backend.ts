import type { ChatRequest } from "../../gen/protogate/v1/inference_service_pb.js";
import type { Capabilities, ModelState } from "../../gen/protogate/v1/model_service_pb.js";
import type { WarningCode } from "../../gen/protogate/v1/chat_pb.js";

/** The wire dialects the gateway speaks to backends. */
export type BackendKind = "openai" | "ollama";

/**
 * A warning raised while mapping a request or response, e.g. a parameter
 * the backend cannot take. Returned to the client in `warnings`.
 */
export interface MappingWarning {
  readonly code: WarningCode;
  readonly message: string;
  readonly field: string;
}

/** Token counts a backend reported. */
export interface BackendUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** Durations a backend reported about its own work, in milliseconds. */
export interface BackendTimings {
  readonly promptMs?: number | undefined;
  readonly generationMs?: number | undefined;
}

/** A tool call as a backend produced it, before the gateway finalises it. */
export interface RawToolCall {
  /** Absent or empty when the backend sent no id. */
  readonly id: string | undefined;
  readonly name: string;
  /** The exact argument text from the wire. */
  readonly arguments: string;
}

/** How generation ended, as the backend reported it. */
export interface BackendFinish {
  readonly rawFinishReason: string;
  readonly usage: BackendUsage | undefined;
  readonly timings: BackendTimings;
}

/**
 * One event of a streamed generation, normalised across backends. The
 * stream ends with exactly one `finish`; anything else is a failure that
 * the backend throws as a ConnectError.
 */
export type BackendStreamEvent =
  | { readonly kind: "content"; readonly text: string }
  | { readonly kind: "reasoning"; readonly text: string }
  /** A fragment of a tool call streamed piecewise (OpenAI style). */
  | {
      readonly kind: "tool-call-delta";
      readonly index: number;
      readonly id: string | undefined;
      readonly name: string | undefined;
      readonly argumentsFragment: string;
    }
  /** A tool call that arrived whole (Ollama native). */
  | { readonly kind: "tool-call"; readonly call: RawToolCall }
  | ({ readonly kind: "finish" } & BackendFinish);

/** A complete, non-streamed generation. */
export interface BackendChatResult extends BackendFinish {
  readonly content: string;
  readonly reasoning: string;
  readonly toolCalls: readonly RawToolCall[];
}

/** What a backend call needs besides the request itself. */
export interface BackendCallOptions {
  /** The model's name on the backend. */
  readonly backendModel: string;
  /** Aborted when the client goes away or its deadline passes. */
  readonly signal: AbortSignal;
  /**
   * Extra headers for the upstream request, e.g. W3C `traceparent`. The
   * backend's own headers (authorization) win over these.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A prepared call: the request as sent upstream and its mapping warnings. */
export interface PreparedChat<T> {
  readonly warnings: readonly MappingWarning[];
  readonly result: T;
}

/** A model as one backend describes it. */
export interface BackendModel {
  readonly name: string;
  readonly state: ModelState;
  readonly capabilities: Partial<Omit<Capabilities, "$typeName" | "$unknown">>;
  readonly contextLength: number | undefined;
  readonly sizeBytes: bigint | undefined;
}

/** What a backend said when asked for its models. */
export type BackendDiscovery =
  | { readonly kind: "reachable"; readonly ready: boolean; readonly models: readonly BackendModel[]; readonly detail: string }
  | { readonly kind: "unreachable"; readonly detail: string };

/**
 * What an active readiness probe found, cheaper than a discovery:
 * - `ready`: the backend can serve now; `loadedModels` lists the models in
 *   memory when the backend tells (Ollama's `/api/ps`);
 * - `loading`: it answers but is loading a model (llama.cpp's 503);
 * - `not-ready`: it answers but cannot serve (vLLM's dead engine, no models);
 * - `down`: no answer, or an answer that is not the backend's.
 */
export type BackendProbe =
  | { readonly kind: "ready"; readonly detail: string; readonly loadedModels?: readonly string[] }
  | { readonly kind: "loading"; readonly detail: string }
  | { readonly kind: "not-ready"; readonly detail: string }
  | { readonly kind: "down"; readonly detail: string };

/**
 * One inference server behind the gateway. Implementations translate the
 * gateway's contract to one wire dialect and map every failure to a
 * ConnectError with a code that fits; they never execute tool calls.
 */
export interface Backend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly baseUrl: string;
  /** Generates a complete answer. */
  chat(request: ChatRequest, options: BackendCallOptions): Promise<PreparedChat<BackendChatResult>>;
  /**
   * Generates an answer as events. Mapping warnings are known before the
   * first event, so they are returned with the stream.
   */
  chatStream(
    request: ChatRequest,
    options: BackendCallOptions,
  ): Promise<PreparedChat<AsyncIterable<BackendStreamEvent>>>;
  /** Lists the backend's models and whether it can serve now. */
  discover(signal: AbortSignal): Promise<BackendDiscovery>;
  /**
   * Checks readiness with the backend kind's own health endpoints
   * (llama.cpp and vLLM `/health`, Ollama `/api/version` and `/api/ps`,
   * other OpenAI-compatible servers `/v1/models`). Never throws.
   */
  probe(signal: AbortSignal): Promise<BackendProbe>;
}
