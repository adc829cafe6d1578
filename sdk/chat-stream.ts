import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CallOptions } from "@connectrpc/connect";
import type { ToolCall } from "../gen/protogate/v1/chat_pb.js";
import type { ChatRequestSchema, StreamEnd, StreamStart } from "../gen/protogate/v1/inference_service_pb.js";
import type { ProtogateClient } from "./client.js";

/** What streamChat yields: text as it comes, tool calls once complete. */
export type ChatChunk =
  | { readonly kind: "start"; readonly start: StreamStart }
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "reasoning"; readonly text: string }
  | { readonly kind: "tool-call"; readonly call: ToolCall }
  | { readonly kind: "end"; readonly end: StreamEnd };

/**
 * Streams a chat answer as text pieces and complete tool calls, hiding the
 * per-fragment tool-call deltas most callers do not need. Errors surface as
 * ConnectError from the iteration; breaking out of the loop cancels the
 * call, which stops generation on the backend.
 *
 * @example
 * for await (const chunk of streamChat(gateway, { model: "qwen3:0.6b", messages: [{ role: Role.USER, content: "Hi" }] })) {
 *   if (chunk.kind === "text") process.stdout.write(chunk.text);
 * }
 */
export async function* streamChat(
  client: ProtogateClient,
  request: MessageInitShape<typeof ChatRequestSchema>,
  options?: CallOptions,
): AsyncGenerator<ChatChunk> {
  for await (const response of client.inference.chatStream(request, options)) {
    const event = response.event;
    switch (event.case) {
      case "start":
        yield { kind: "start", start: event.value };
        break;
      case "contentDelta":
        yield { kind: "text", text: event.value.text };
        break;
      case "reasoningDelta":
        yield { kind: "reasoning", text: event.value.text };
        break;
      case "toolCall":
        if (event.value.call !== undefined) yield { kind: "tool-call", call: event.value.call };
        break;
      case "end":
        yield { kind: "end", end: event.value };
        break;
      default:
        break; // tool-call deltas and events added later
    }
  }
}
