import type { Sampling } from "../../gen/protogate/v1/chat_pb.js";
import type { RawJsonBodyBuilder } from "./raw-json-body.js";

/** Wire names of the sampling fields whose names differ between dialects. */
export interface SamplingNames {
  readonly maxTokens: string;
  readonly repeatPenalty: string;
}

/**
 * The sampling fields the client set, under their wire names: the top level
 * of an OpenAI body or Ollama's `options`. Unset fields are left out, so the
 * backend's defaults apply. The seed is spliced as text: a 64-bit seed does
 * not survive a JS number.
 *
 * @example
 * samplingFields(request.sampling, body, { maxTokens: "num_predict", repeatPenalty: "repeat_penalty" });
 */
export function samplingFields(
  sampling: Sampling | undefined,
  body: RawJsonBodyBuilder,
  names: SamplingNames,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (sampling === undefined) return fields;
  if (sampling.temperature !== undefined) fields.temperature = sampling.temperature;
  if (sampling.topP !== undefined) fields.top_p = sampling.topP;
  if (sampling.topK !== undefined) fields.top_k = sampling.topK;
  if (sampling.minP !== undefined) fields.min_p = sampling.minP;
  if (sampling.maxTokens !== undefined) fields[names.maxTokens] = sampling.maxTokens;
  if (sampling.seed !== undefined) fields.seed = body.raw(sampling.seed.toString());
  if (sampling.stop.length > 0) fields.stop = [...sampling.stop];
  if (sampling.presencePenalty !== undefined) fields.presence_penalty = sampling.presencePenalty;
  if (sampling.frequencyPenalty !== undefined) fields.frequency_penalty = sampling.frequencyPenalty;
  if (sampling.repeatPenalty !== undefined) fields[names.repeatPenalty] = sampling.repeatPenalty;
  return fields;
}
