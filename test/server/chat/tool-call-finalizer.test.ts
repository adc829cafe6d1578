import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArgumentsStatus, FinishReason, ToolCallSchema, WarningCode, WarningSchema } from "../../../gen/protogate/v1/chat_pb.js";
import {
  classifyArguments,
  finalizeToolCall,
  mapFinishReason,
  toWarnings,
} from "../../../server/chat/tool-call-finalizer.js";
import { TRICKY_ARGUMENTS } from "../../helpers/tricky-json.js";

describe("finalizeToolCall", () => {
  it("passes id, name and argument text through unchanged", () => {
    expect(finalizeToolCall({ id: "chatcmpl-tool-1", name: "lookup", arguments: TRICKY_ARGUMENTS }, 0)).toEqual({
      call: create(ToolCallSchema, {
        id: "chatcmpl-tool-1",
        name: "lookup",
        arguments: TRICKY_ARGUMENTS,
        argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT,
        idSynthesized: false,
      }),
      warnings: [],
    });
  });

  it.each([undefined, ""])("synthesizes a call_ id for %j and says so", (id) => {
    const { call, warnings } = finalizeToolCall({ id, name: "f", arguments: "{}" }, 3);
    expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(call.idSynthesized).toBe(true);
    expect(warnings).toEqual([
      create(WarningSchema, {
        code: WarningCode.TOOL_CALL_ID_SYNTHESIZED,
        message: "the backend sent tool call 3 without an id; the gateway made one up",
        field: "tool_calls[3].id",
      }),
    ]);
  });

  it("uses the given synthesized id when the client was already shown one", () => {
    expect(finalizeToolCall({ id: undefined, name: "f", arguments: "{}" }, 0, "call_shown").call.id).toBe("call_shown");
    expect(finalizeToolCall({ id: "real", name: "f", arguments: "{}" }, 0, "call_shown").call.id).toBe("real");
  });

  it("warns about arguments that are not a JSON object, and leaves them unchanged", () => {
    const { call, warnings } = finalizeToolCall({ id: "c", name: "search", arguments: '{"q": "unterminated' }, 1);
    expect([call.arguments, call.argumentsStatus]).toEqual(['{"q": "unterminated', ArgumentsStatus.INVALID_JSON]);
    expect(warnings).toEqual([
      create(WarningSchema, {
        code: WarningCode.TOOL_CALL_ARGUMENTS_INVALID,
        message: "the arguments of tool call 1 (search) are not a JSON object; they are passed on unchanged",
        field: "tool_calls[1].arguments",
      }),
    ]);
  });
});

describe("classifyArguments", () => {
  it.each([
    ["{}", ArgumentsStatus.VALID_JSON_OBJECT],
    [' \n{"a": [1]} ', ArgumentsStatus.VALID_JSON_OBJECT],
    [TRICKY_ARGUMENTS, ArgumentsStatus.VALID_JSON_OBJECT],
    ["[1]", ArgumentsStatus.NOT_AN_OBJECT],
    ['"{}"', ArgumentsStatus.NOT_AN_OBJECT],
    ["null", ArgumentsStatus.NOT_AN_OBJECT],
    ["42", ArgumentsStatus.NOT_AN_OBJECT],
    ["", ArgumentsStatus.EMPTY],
    [" \n\t", ArgumentsStatus.EMPTY],
    ["{", ArgumentsStatus.INVALID_JSON],
    ["{'a': 1}", ArgumentsStatus.INVALID_JSON],
    ['{"a":1}{"b":2}', ArgumentsStatus.INVALID_JSON],
  ])("classifies %j", (text, status) => {
    expect(classifyArguments(text)).toBe(status);
  });
});

describe("mapFinishReason", () => {
  it.each([
    ["stop", false, FinishReason.STOP],
    ["eos", false, FinishReason.STOP],
    ["length", false, FinishReason.LENGTH],
    ["tool_calls", true, FinishReason.TOOL_CALLS],
    ["tool_calls", false, FinishReason.TOOL_CALLS],
    ["function_call", true, FinishReason.TOOL_CALLS],
    ["content_filter", false, FinishReason.CONTENT_FILTER],
    ["stop", true, FinishReason.TOOL_CALLS],
    ["eos", true, FinishReason.TOOL_CALLS],
    ["length", true, FinishReason.LENGTH],
    ["", false, FinishReason.UNSPECIFIED],
    ["", true, FinishReason.UNSPECIFIED],
  ])("maps %j (tool calls: %s) without a warning", (raw, madeToolCalls, reason) => {
    expect(mapFinishReason(raw, madeToolCalls)).toEqual({ reason, warning: undefined });
  });

  it.each(["abort", "STOP", "unload", "constructor", "toString", "__proto__", "hasOwnProperty"])(
    "maps the unknown reason %j to OTHER with a warning",
    (raw) => {
      expect(mapFinishReason(raw, false)).toEqual({
        reason: FinishReason.OTHER,
        warning: create(WarningSchema, {
          code: WarningCode.UNKNOWN_FINISH_REASON,
          message: `unknown finish reason "${raw}"`,
          field: "raw_finish_reason",
        }),
      });
    },
  );
});

describe("toWarnings", () => {
  it("turns mapping warnings into proto messages, in order", () => {
    const warnings = toWarnings([
      { code: WarningCode.ROLE_MAPPED, message: "m1", field: "messages[0].role" },
      { code: WarningCode.PARAMETER_IGNORED, message: "m2", field: "tool_choice" },
    ]);
    expect(warnings).toEqual([
      create(WarningSchema, { code: WarningCode.ROLE_MAPPED, message: "m1", field: "messages[0].role" }),
      create(WarningSchema, { code: WarningCode.PARAMETER_IGNORED, message: "m2", field: "tool_choice" }),
    ]);
  });
});
