import type { ChatRequest } from "../../gen/protogate/v1/inference_service_pb.js";
import { violationsError } from "./violations.js";

/**
 * Checks what protovalidate rules cannot: JSON texts that must be JSON
 * objects (tool parameters, response schemas, earlier tool arguments are
 * left to the backend that needs them), unique tool names, and a named tool
 * choice that names a tool. Throws invalid_argument with a Violations
 * detail, like the validation interceptor.
 */
export function checkChatRequest(request: ChatRequest): void {
  const names = new Set<string>();
  request.tools.forEach((tool, index) => {
    if (names.has(tool.name)) {
      throw violationsError(`tools[${index}].name`, "tool.name_unique", `duplicate tool name "${tool.name}"`);
    }
    names.add(tool.name);
    if (tool.parametersJson !== "") {
      requireJsonObject(tool.parametersJson, `tools[${index}].parameters_json`, "tool.parameters_json");
    }
  });
  const choice = request.toolChoice?.choice;
  if (choice?.case === "function" && !names.has(choice.value)) {
    throw violationsError("tool_choice.function", "tool_choice.function_known", `"${choice.value}" is not one of the request's tools`);
  }
  const format = request.responseFormat?.format;
  if (format?.case === "jsonSchema") {
    requireJsonObject(format.value.schemaJson, "response_format.json_schema.schema_json", "response_format.schema_json");
  }
}

function requireJsonObject(text: string, field: string, ruleId: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : "invalid JSON";
    throw violationsError(field, ruleId, `must be a JSON Schema object; the text is not valid JSON (${reason})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw violationsError(field, ruleId, "must be a JSON Schema object, not an array or scalar");
  }
}
