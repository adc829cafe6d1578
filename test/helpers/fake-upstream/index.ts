/**
 * Wire-exact fake upstreams for backend tests: real HTTP/1.1 servers on 127.0.0.1 that answer
 * like llama.cpp, vLLM and Ollama, with scriptable faults (errors, mid-stream failures, dropped
 * and hanging connections) and a record of what they received.
 */
export { createOpenAiFake, generateToolCallId, LLAMACPP_BUILD_INFO, VLLM_VERSION } from "./openai-fake.js";
export type { OpenAiFake, OpenAiFakeOptions, OpenAiFlavour } from "./openai-fake.js";
export { createOllamaFake, OLLAMA_DEFAULT_VERSION } from "./ollama-fake.js";
export type { OllamaFake, OllamaFakeModel, OllamaFakeOptions } from "./ollama-fake.js";
export { DEFAULT_CONTENT, DEFAULT_REPLY, splitFragments } from "./recorded-request.js";
export type {
  ChatScript,
  DropScript,
  FakeToolCall,
  FakeUpstreamBase,
  FakeUsage,
  HangScript,
  HttpErrorScript,
  MidstreamErrorScript,
  RawScript,
  RecordedRequest,
  ReplyScript,
} from "./recorded-request.js";
