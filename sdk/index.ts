/**
 * protogate's typed client. Re-exports the generated message types and
 * enums so callers need only this one import.
 */
export { createProtogateClient } from "./client.js";
export type { ProtogateClient, ProtogateClientOptions, ProtogateProtocol } from "./client.js";
export { streamChat } from "./chat-stream.js";
export { requestIdHeader, requestIdOf } from "./request-id.js";
export type { ChatChunk } from "./chat-stream.js";
export * from "../gen/protogate/v1/chat_pb.js";
export * from "../gen/protogate/v1/inference_service_pb.js";
export * from "../gen/protogate/v1/model_service_pb.js";
export * from "../gen/protogate/v1/errors_pb.js";
export * from "../gen/protogate/v1/stats_service_pb.js";
export * from "../gen/protogate/v1/sandbox_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
