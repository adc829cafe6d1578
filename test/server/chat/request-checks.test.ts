import { Code, type ConnectError } from "@connectrpc/connect";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { describe, expect, it } from "vitest";
import { Role, ToolChoiceMode } from "../../../gen/protogate/v1/chat_pb.js";
import { checkChatRequest } from "../../../server/chat/request-checks.js";
import { connectErrorFrom } from "../../helpers/async-outcomes.js";
import { chatRequest } from "../../helpers/chat-request.js";
import { SPACED_SCHEMA } from "../../helpers/tricky-json.js";

/** The one violation of an invalid_argument error: rule id and field path as names and subscripts. */
function violation(error: ConnectError) {
  expect(error.code).toBe(Code.InvalidArgument);
  const violations = error.findDetails(ViolationsSchema).flatMap((detail) => detail.violations);
  expect(violations).toHaveLength(1);
  const [only] = violations;
  return {
    ruleId: only?.ruleId,
    path: only?.field?.elements.map((element) =>
      element.subscript.case === "index" ? `${element.fieldName}[${element.subscript.value}]` : element.fieldName,
    ),
    message: only?.message,
  };
}

describe("checkChatRequest", () => {
  it("accepts tools with JSON Schema objects, empty parameters, a known named choice and a schema format", () => {
    const request = chatRequest({
      messages: [
        { role: Role.USER, content: "x" },
        // Earlier arguments are left to the backend that needs them.
        { role: Role.ASSISTANT, toolCalls: [{ id: "c", name: "f", arguments: "not json" }] },
      ],
      tools: [{ name: "f", parametersJson: SPACED_SCHEMA }, { name: "g" }],
      toolChoice: { choice: { case: "function", value: "g" } },
      responseFormat: { format: { case: "jsonSchema", value: { schemaJson: "{}" } } },
    });
    expect(checkChatRequest(request)).toBeUndefined();
    expect(checkChatRequest(chatRequest({ toolChoice: { choice: { case: "mode", value: ToolChoiceMode.NONE } } }))).toBeUndefined();
  });

  it("rejects a duplicate tool name at the second occurrence", () => {
    const request = chatRequest({ tools: [{ name: "a" }, { name: "b" }, { name: "a" }] });
    const error = connectErrorFrom(() => checkChatRequest(request));
    expect(error.rawMessage).toBe('tools[2].name: duplicate tool name "a"');
    expect(violation(error)).toEqual({ ruleId: "tool.name_unique", path: ["tools[2]", "name"], message: 'duplicate tool name "a"' });
  });

  it("rejects parameters that are not valid JSON", () => {
    const request = chatRequest({ tools: [{ name: "a", parametersJson: "{" }, { name: "b", parametersJson: '{"type":}' }] });
    const result = violation(connectErrorFrom(() => checkChatRequest(request)));
    expect(result.ruleId).toBe("tool.parameters_json");
    expect(result.path).toEqual(["tools[0]", "parameters_json"]);
    expect(result.message).toMatch(/^must be a JSON Schema object; the text is not valid JSON \(.+\)$/);
  });

  it.each(["[]", '"object"', "true", "null", "1"])("rejects parameters %s that are JSON but not an object", (parametersJson) => {
    const request = chatRequest({ tools: [{ name: "ok", parametersJson: "{}" }, { name: "a", parametersJson }] });
    expect(violation(connectErrorFrom(() => checkChatRequest(request)))).toEqual({
      ruleId: "tool.parameters_json",
      path: ["tools[1]", "parameters_json"],
      message: "must be a JSON Schema object, not an array or scalar",
    });
  });

  it("rejects a named tool choice that is not one of the tools", () => {
    const request = chatRequest({ tools: [{ name: "a" }], toolChoice: { choice: { case: "function", value: "b" } } });
    expect(violation(connectErrorFrom(() => checkChatRequest(request)))).toEqual({
      ruleId: "tool_choice.function_known",
      path: ["tool_choice", "function"],
      message: '"b" is not one of the request\'s tools',
    });
  });

  it.each(["[1]", "{oops"])("rejects a response schema %s that is not a JSON object", (schemaJson) => {
    const request = chatRequest({ responseFormat: { format: { case: "jsonSchema", value: { schemaJson } } } });
    const result = violation(connectErrorFrom(() => checkChatRequest(request)));
    expect([result.ruleId, result.path]).toEqual([
      "response_format.schema_json",
      ["response_format", "json_schema", "schema_json"],
    ]);
  });
});
