import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Warning } from "../../gen/protogate/v1/chat_pb.js";
import {
  type ChatRequest,
  ChatResponseSchema,
  type ChatStreamResponseSchema,
  InferenceService,
} from "../../gen/protogate/v1/inference_service_pb.js";
import type { BackendFinish } from "../backends/backend.js";
import type { ModelCatalog } from "../catalog/model-catalog.js";
import { checkChatRequest } from "../chat/request-checks.js";
import { createToolCallAssembler } from "../chat/tool-call-assembler.js";
import { finalizeToolCall, mapFinishReason, toWarnings } from "../chat/tool-call-finalizer.js";
import type { RoutedModel } from "../routing/model-router.js";
import { createTimeoutSignal } from "../reliability/timeout-signal.js";
import { resolveModel } from "./model-resolution.js";

/** What the inference service needs. */
export interface InferenceServiceOptions {
  readonly catalog: ModelCatalog;
  /** A monotonic clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
}

type StreamEvent = MessageInitShape<typeof ChatStreamResponseSchema>;

/**
 * Implements protogate.v1.InferenceService: resolves the model to a
 * backend, calls it with the handler's AbortSignal (so a client disconnect
 * or deadline stops generation upstream), and returns tool calls exactly as
 * the backend produced them. Nothing here executes a tool.
 *
 * @example
 * router.service(InferenceService, createInferenceService({ catalog }));
 */
export function createInferenceService(options: InferenceServiceOptions): ServiceImpl<typeof InferenceService> {
  const now = options.now ?? (() => performance.now());

  /** Resolves the route and the signal every upstream call must honour. */
  async function prepare(request: ChatRequest, context: HandlerContext) {
    checkChatRequest(request);
    const model = await resolveModel(options.catalog, request.model);
    const entry = options.catalog.backend(model.backendId);
    if (entry === undefined) throw new ConnectError(`backend "${model.backendId}" is not configured`, Code.Internal);
    return { model, backend: entry.backend, signal: upstreamSignal(context, entry.timeoutMs) };
  }

  function timings(started: number, firstToken: number | undefined, upstreamStarted: number, finish: BackendFinish) {
    const end = now();
    return {
      totalMs: end - started,
      timeToFirstTokenMs: (firstToken ?? end) - started,
      upstreamMs: end - upstreamStarted,
      ...(finish.timings.promptMs === undefined ? {} : { backendPromptMs: finish.timings.promptMs }),
      ...(finish.timings.generationMs === undefined ? {} : { backendGenerationMs: finish.timings.generationMs }),
    };
  }

  function usage(finish: BackendFinish) {
    if (finish.usage === undefined) return undefined;
    const { promptTokens, completionTokens } = finish.usage;
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
  }

  function identity(request: ChatRequest, model: RoutedModel) {
    return { id: `chat-${randomUUID()}`, model: request.model, backend: model.backendId, backendModel: model.name };
  }

  return {
    async chat(request, context) {
      const started = now();
      const { model, backend, signal } = await prepare(request, context);
      const upstreamStarted = now();
      const { warnings: mappingWarnings, result } = await backend.chat(request, { backendModel: model.name, signal });
      const firstToken = now();
      const warnings: Warning[] = toWarnings(mappingWarnings);
      const toolCalls = result.toolCalls.map((raw, index) => {
        const finalized = finalizeToolCall(raw, index);
        warnings.push(...finalized.warnings);
        return finalized.call;
      });
      const finish = mapFinishReason(result.rawFinishReason, toolCalls.length > 0);
      if (finish.warning !== undefined) warnings.push(finish.warning);
      return create(ChatResponseSchema, {
        ...identity(request, model),
        message: { content: result.content, reasoning: result.reasoning, toolCalls },
        finishReason: finish.reason,
        rawFinishReason: result.rawFinishReason,
        usage: usage(result),
        timings: timings(started, firstToken, upstreamStarted, result),
        warnings,
      });
    },

    async *chatStream(request, context): AsyncGenerator<StreamEvent> {
      const started = now();
      const { model, backend, signal } = await prepare(request, context);
      const upstreamStarted = now();
      const prepared = await backend.chatStream(request, { backendModel: model.name, signal });
      const warnings: Warning[] = toWarnings(prepared.warnings);
      const assembler = createToolCallAssembler();
      let firstToken: number | undefined;
      const markFirstToken = () => {
        firstToken ??= now();
      };

      yield { event: { case: "start", value: identity(request, model) } };
      for await (const event of prepared.result) {
        switch (event.kind) {
          case "content":
            markFirstToken();
            yield { event: { case: "contentDelta", value: { text: event.text } } };
            break;
          case "reasoning":
            markFirstToken();
            yield { event: { case: "reasoningDelta", value: { text: event.text } } };
            break;
          case "tool-call-delta":
            markFirstToken();
            yield { event: { case: "toolCallDelta", value: assembler.addDelta(event) } };
            break;
          case "tool-call": {
            markFirstToken();
            const whole = assembler.addWhole(event.call);
            warnings.push(...whole.warnings);
            yield { event: { case: "toolCallDelta", value: whole.delta } };
            yield { event: { case: "toolCall", value: whole.completed } };
            break;
          }
          case "finish": {
            const completed = assembler.complete();
            warnings.push(...completed.warnings);
            for (const call of completed.calls) yield { event: { case: "toolCall", value: call } };
            const finish = mapFinishReason(event.rawFinishReason, assembler.count > 0);
            if (finish.warning !== undefined) warnings.push(finish.warning);
            yield {
              event: {
                case: "end",
                value: {
                  finishReason: finish.reason,
                  rawFinishReason: event.rawFinishReason,
                  usage: usage(event),
                  timings: timings(started, firstToken, upstreamStarted, event),
                  warnings,
                },
              },
            };
            return;
          }
        }
      }
      // Backends throw rather than end without a finish; this guards the contract.
      throw new ConnectError(`backend "${backend.id}" ended the stream without finishing`, Code.Unavailable);
    },
  };
}

/**
 * The signal an upstream call honours: the handler's (client cancel,
 * deadline, shutdown — connect aborts it when the call ends, which also
 * clears the timer) limited by the backend's own timeout.
 */
function upstreamSignal(context: HandlerContext, timeoutMs: number): AbortSignal {
  return createTimeoutSignal(context.signal, timeoutMs, `the backend did not answer within ${timeoutMs} ms`).signal;
}
