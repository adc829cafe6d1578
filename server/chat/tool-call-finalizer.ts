import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  ArgumentsStatus,
  FinishReason,
  type ToolCall,
  ToolCallSchema,
  type Warning,
  WarningCode,
  WarningSchema,
} from "../../gen/protogate/v1/chat_pb.js";
import type { MappingWarning, RawToolCall } from "../backends/backend.js";

/** A new `call_…` id for a tool call the backend sent without one. */
export function synthesizeToolCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

/**
 * Turns a tool call as a backend produced it into the contract's ToolCall:
 * the id and argument text pass through unchanged; a missing id is
 * synthesized (and flagged), or taken from `synthesizedId` when the client
 * was already shown one; the argument text is classified, never repaired.
 * Returns the warnings the client should see.
 */
export function finalizeToolCall(
  raw: RawToolCall,
  index: number,
  synthesizedId?: string,
): { call: ToolCall; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const hasId = raw.id !== undefined && raw.id !== "";
  // Random bytes only when needed: most calls come with an id.
  const id = hasId ? (raw.id as string) : (synthesizedId ?? synthesizeToolCallId());
  if (!hasId) {
    warnings.push(
      create(WarningSchema, {
        code: WarningCode.TOOL_CALL_ID_SYNTHESIZED,
        message: `the backend sent tool call ${index} without an id; the gateway made one up`,
        field: `tool_calls[${index}].id`,
      }),
    );
  }
  const argumentsStatus = classifyArguments(raw.arguments);
  if (argumentsStatus === ArgumentsStatus.INVALID_JSON || argumentsStatus === ArgumentsStatus.NOT_AN_OBJECT) {
    warnings.push(
      create(WarningSchema, {
        code: WarningCode.TOOL_CALL_ARGUMENTS_INVALID,
        message: `the arguments of tool call ${index} (${raw.name}) are not a JSON object; they are passed on unchanged`,
        field: `tool_calls[${index}].arguments`,
      }),
    );
  }
  return {
    call: create(ToolCallSchema, { id, name: raw.name, arguments: raw.arguments, argumentsStatus, idSynthesized: !hasId }),
    warnings,
  };
}

/** Whether argument text is a JSON object, without changing it. */
export function classifyArguments(text: string): ArgumentsStatus {
  if (text.trim() === "") return ArgumentsStatus.EMPTY;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return ArgumentsStatus.INVALID_JSON;
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? ArgumentsStatus.VALID_JSON_OBJECT
    : ArgumentsStatus.NOT_AN_OBJECT;
}

/** A Map, not an object literal: a backend's "constructor" must not find Object.prototype's. */
const knownReasons: ReadonlyMap<string, FinishReason> = new Map([
  ["stop", FinishReason.STOP],
  ["eos", FinishReason.STOP],
  ["length", FinishReason.LENGTH],
  ["tool_calls", FinishReason.TOOL_CALLS],
  ["function_call", FinishReason.TOOL_CALLS],
  ["content_filter", FinishReason.CONTENT_FILTER],
]);

/**
 * Maps a backend's finish reason to the enum. Backends that report "stop"
 * after tool calls (Ollama) get TOOL_CALLS; the raw value is kept anyway.
 */
export function mapFinishReason(raw: string, madeToolCalls: boolean): { reason: FinishReason; warning: Warning | undefined } {
  const known = knownReasons.get(raw);
  if (known === FinishReason.STOP && madeToolCalls) return { reason: FinishReason.TOOL_CALLS, warning: undefined };
  if (known !== undefined) return { reason: known, warning: undefined };
  if (raw === "") return { reason: FinishReason.UNSPECIFIED, warning: undefined };
  return {
    reason: FinishReason.OTHER,
    warning: create(WarningSchema, {
      code: WarningCode.UNKNOWN_FINISH_REASON,
      message: `unknown finish reason "${raw}"`,
      field: "raw_finish_reason",
    }),
  };
}

/** Mapping warnings as proto messages. */
export function toWarnings(warnings: readonly MappingWarning[]): Warning[] {
  return warnings.map((warning) => create(WarningSchema, warning));
}
