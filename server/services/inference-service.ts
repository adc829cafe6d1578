import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { AttemptsSchema, type Warning, WarningCode, WarningSchema } from "../../gen/protogate/v1/chat_pb.js";
import {
  type ChatRequest,
  ChatResponseSchema,
  type ChatStreamResponseSchema,
  InferenceService,
} from "../../gen/protogate/v1/inference_service_pb.js";
import type { BackendFinish } from "../backends/backend.js";
import type { ModelCatalog } from "../catalog/model-catalog.js";
import { defaultBackendPolicy, defaultRoutePolicy } from "../config/resolved-config.js";
import { type RequestObservation, createRequestObservation, requestObservationKey } from "../observability/request-observation.js";
import { createBackendGuards } from "../reliability/backend-guards.js";
import { createRoutePolicies } from "../routing/route-policy.js";
import { checkChatRequest } from "../chat/request-checks.js";
import { createToolCallAssembler } from "../chat/tool-call-assembler.js";
import { finalizeToolCall, mapFinishReason, toWarnings } from "../chat/tool-call-finalizer.js";
import type { RoutedModel } from "../routing/model-router.js";
import { resolveModel } from "./model-resolution.js";
import { type AttemptsReport, type UpstreamCaller, createUpstreamCaller } from "./upstream-call.js";

/** What the inference service needs. */
export interface InferenceServiceOptions {
  readonly catalog: ModelCatalog;
  /**
   * Calls backends with the reliability policies (deadline, breaker,
   * limiter, retries, fallbacks, stream timeouts). Default: one with the
   * default policies for every backend of the catalog.
   */
  readonly upstream?: UpstreamCaller;
  /** A monotonic clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
}

type StreamEvent = MessageInitShape<typeof ChatStreamResponseSchema>;

/**
 * Implements protogate.v1.InferenceService: resolves the model to a
 * backend, calls it through the upstream caller with the handler's
 * AbortSignal (so a client disconnect or deadline stops generation
 * upstream), and returns tool calls exactly as the backend produced them.
 * Nothing here executes a tool. ChatStream holds its `start` event until
 * a backend produced its first event, so failures before that can still be
 * retried or fall back; after it, a failure ends the stream with its code.
 *
 * @example
 * router.service(InferenceService, createInferenceService({ catalog }));
 */
export function createInferenceService(options: InferenceServiceOptions): ServiceImpl<typeof InferenceService> {
  const now = options.now ?? (() => performance.now());
  const upstream =
    options.upstream ??
    createUpstreamCaller({
      catalog: options.catalog,
      guards: createBackendGuards({
        backends: options.catalog.statuses().map((status) => ({ backendId: status.id, ...defaultBackendPolicy })),
      }),
      routes: createRoutePolicies([], defaultRoutePolicy),
      now,
    });

  /** Checks the request and resolves its model; the observation learns the model and session. */
  async function prepare(request: ChatRequest, context: HandlerContext) {
    const observation = observationOf(context, now);
    if (request.sessionId !== "") observation.sessionId = request.sessionId;
    checkChatRequest(request);
    const model = await resolveModel(options.catalog, request.model);
    observation.model = model.id;
    return { model, observation };
  }

  /** The answer's Timings, measured from the observation's start (when the request reached the gateway). */
  function timings(observation: RequestObservation, ttftMs: number | undefined, upstreamStarted: number, finish: BackendFinish) {
    const end = now();
    const totalMs = end - observation.startedAt;
    return {
      totalMs,
      timeToFirstTokenMs: ttftMs ?? totalMs,
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

  /** The answer's id names the request: `chat-` and its `protogate-request-id`, which its log line carries too. */
  function identity(request: ChatRequest, model: RoutedModel, observation: RequestObservation) {
    return { id: `chat-${observation.requestId}`, model: request.model, backend: model.backendId, backendModel: model.name };
  }

  /** The contract's Attempts, plus a warning when a fallback answered. */
  function attemptsOf(report: AttemptsReport, served: RoutedModel, warnings: Warning[]) {
    if (report.fallbackFrom.length > 0) {
      warnings.push(
        create(WarningSchema, {
          code: WarningCode.FALLBACK_USED,
          message: `served by fallback "${served.backendId}/${served.name}" after ${report.fallbackFrom.join(", ")} could not serve`,
          field: "model",
        }),
      );
    }
    return create(AttemptsSchema, { count: report.count, retries: report.retries, fallbackFrom: [...report.fallbackFrom] });
  }

  function countTokens(observation: RequestObservation, finish: BackendFinish): void {
    if (finish.usage === undefined) return;
    observation.tokensIn = finish.usage.promptTokens;
    observation.tokensOut = finish.usage.completionTokens;
  }

  return {
    async chat(request, context) {
      const { model, observation } = await prepare(request, context);
      const outcome = await upstream.chat(request, model, context, observation);
      const { warnings: mappingWarnings, result } = outcome.prepared;
      // Unary: the whole answer arrived at once, and that is its first token.
      const ttftMs = now() - observation.startedAt;
      const warnings: Warning[] = toWarnings(mappingWarnings);
      const toolCalls = result.toolCalls.map((raw, index) => {
        const finalized = finalizeToolCall(raw, index);
        warnings.push(...finalized.warnings);
        observation.toolCall(finalized.call.argumentsStatus);
        return finalized.call;
      });
      const finish = mapFinishReason(result.rawFinishReason, toolCalls.length > 0);
      if (finish.warning !== undefined) warnings.push(finish.warning);
      countTokens(observation, result);
      const attempts = attemptsOf(outcome.attempts, outcome.served, warnings);
      return create(ChatResponseSchema, {
        message: { content: result.content, reasoning: result.reasoning, toolCalls },
        finishReason: finish.reason,
        rawFinishReason: result.rawFinishReason,
        usage: usage(result),
        timings: timings(observation, ttftMs, outcome.upstreamStarted, result),
        warnings,
        attempts,
        // Last: on Node 20 a literal that starts with a spread gets a hidden class of its own (bench/hidden-classes.ts).
        ...identity(request, outcome.served, observation),
      });
    },

    async *chatStream(request, context): AsyncGenerator<StreamEvent> {
      const { model, observation } = await prepare(request, context);
      const outcome = await upstream.chatStream(request, model, context, observation);
      const upstreamStarted = outcome.upstreamStarted;
      const warnings: Warning[] = toWarnings(outcome.warnings);
      const attempts = attemptsOf(outcome.attempts, outcome.served, warnings);
      const assembler = createToolCallAssembler();
      const markToken = () => observation.token(now());

      const events = outcome.events;
      try {
        yield { event: { case: "start", value: identity(request, outcome.served, observation) } };
        for await (const event of events) {
          switch (event.kind) {
            case "content":
              markToken();
              yield { event: { case: "contentDelta", value: { text: event.text } } };
              break;
            case "reasoning":
              markToken();
              yield { event: { case: "reasoningDelta", value: { text: event.text } } };
              break;
            case "tool-call-delta":
              markToken();
              yield { event: { case: "toolCallDelta", value: assembler.addDelta(event) } };
              break;
            case "tool-call": {
              markToken();
              const whole = assembler.addWhole(event.call);
              warnings.push(...whole.warnings);
              if (whole.completed.call !== undefined) observation.toolCall(whole.completed.call.argumentsStatus);
              yield { event: { case: "toolCallDelta", value: whole.delta } };
              yield { event: { case: "toolCall", value: whole.completed } };
              break;
            }
            case "finish": {
              const completed = assembler.complete();
              warnings.push(...completed.warnings);
              for (const call of completed.calls) {
                if (call.call !== undefined) observation.toolCall(call.call.argumentsStatus);
                yield { event: { case: "toolCall", value: call } };
              }
              countTokens(observation, event);
              const finish = mapFinishReason(event.rawFinishReason, assembler.count > 0);
              if (finish.warning !== undefined) warnings.push(finish.warning);
              yield {
                event: {
                  case: "end",
                  value: {
                    finishReason: finish.reason,
                    rawFinishReason: event.rawFinishReason,
                    usage: usage(event),
                    timings: timings(observation, observation.ttftMs, upstreamStarted, event),
                    warnings,
                    attempts,
                  },
                },
              };
              return;
            }
          }
        }
        // Backends throw rather than end without a finish; this guards the contract.
        throw new ConnectError(`backend "${outcome.served.backendId}" ended the stream without finishing`, Code.Unavailable);
      } finally {
        // Also when the client left before the first event was read: frees the backend slot.
        await events.return?.();
      }
    },
  };
}

/**
 * The observation the observability interceptor put in the context, or a
 * detached one when no interceptor runs (a router transport in tests).
 */
function observationOf(context: HandlerContext, now: () => number): RequestObservation {
  return (
    context.values.get(requestObservationKey) ??
    createRequestObservation({ now, randomBytes: (size) => crypto.getRandomValues(new Uint8Array(size)) })
  );
}
