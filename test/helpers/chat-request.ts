import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Role } from "../../gen/protogate/v1/chat_pb.js";
import { type ChatRequest, ChatRequestSchema } from "../../gen/protogate/v1/inference_service_pb.js";

/**
 * Builds a ChatRequest for backend and unit tests: model "m" and one user
 * message "hi", unless `init` says otherwise. Backends take the request as
 * the service hands it over, so tests build the same proto message.
 *
 * @example
 * const request = chatRequest({ sampling: { seed: 9007199254740993n } });
 */
export function chatRequest(init: MessageInitShape<typeof ChatRequestSchema> = {}): ChatRequest {
  return create(ChatRequestSchema, { model: "m", messages: [{ role: Role.USER, content: "hi" }], ...init });
}
