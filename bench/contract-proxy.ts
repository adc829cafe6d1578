/**
 * The floor for a gateway with protogate's contract: the bare proxy
 * (bench/bare-proxy.ts) that decodes the request and encodes the answer
 * with the contract's own libraries instead of plain JSON — the request
 * as a strict `ChatRequest` (protobuf-es JSON; unknown fields are errors),
 * checked with protovalidate against the proto's rules, and the answer as
 * a `ChatResponse` built with `create` and written with `toJsonString`.
 * Still no routing, timeouts, retries, metrics, logs or error mapping.
 *
 * What it costs over the bare proxy is what the contract itself costs;
 * what protogate costs over it is protogate's own plumbing. The benchmark
 * loads it as target `contract-proxy` (bench/gateway-overhead.ts); run it
 * alone with `npx tsx bench/contract-proxy.ts --upstream URL --port 0`.
 */
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { FinishReason } from "../gen/protogate/v1/chat_pb.js";
import { ChatRequestSchema, ChatResponseSchema } from "../gen/protogate/v1/inference_service_pb.js";
import { type BareProxy, type ProxyCodec, startBareProxy } from "./bare-proxy.js";
import { flagValue, portFlag, runWhenMain } from "./standalone-server.js";

/** A codec that reads and writes protogate's contract, validated. */
export function createContractCodec(): ProxyCodec {
  const validator = createValidator();
  return {
    decode(text) {
      const request = fromJsonString(ChatRequestSchema, text);
      const verdict = validator.validate(ChatRequestSchema, request);
      if (verdict.kind !== "valid") throw verdict.error;
      return { model: request.model, contents: request.messages.map((message) => message.content) };
    },
    encode(request, answer) {
      const { prompt_tokens: promptTokens, completion_tokens: completionTokens } = answer.usage;
      const response = create(ChatResponseSchema, {
        id: "chat-contract-proxy",
        model: request.model,
        backend: "openai",
        backendModel: answer.model,
        message: { content: answer.choices[0]?.message.content ?? "" },
        finishReason: FinishReason.STOP,
        rawFinishReason: "stop",
        usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
        timings: { totalMs: 0, timeToFirstTokenMs: 0, upstreamMs: 0 },
        attempts: { count: 1 },
      });
      return Buffer.from(toJsonString(ChatResponseSchema, response));
    },
  };
}

/**
 * Starts the contract proxy on loopback.
 *
 * @example
 * const proxy = await startContractProxy("http://127.0.0.1:8080");
 * // POST `${proxy.url}/` with {"model":"m","messages":[{"role":"ROLE_USER","content":"hi"}]}
 */
export function startContractProxy(upstreamUrl: string, port = 0): Promise<BareProxy> {
  return startBareProxy(upstreamUrl, port, createContractCodec());
}

runWhenMain(import.meta.url, "contract proxy", (argv) => {
  const upstreamUrl = flagValue(argv, "--upstream");
  if (upstreamUrl === undefined) throw new Error("usage: npx tsx bench/contract-proxy.ts --upstream URL [--port 0]");
  return startContractProxy(upstreamUrl, portFlag(argv));
});
