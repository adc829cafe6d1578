import type { Tool } from "../../gen/protogate/v1/chat_pb.js";

/** The schema sent for a tool that declares no parameters. */
const noParameters = '{"type":"object","properties":{}}';

/**
 * A tool's parameters as the JSON Schema text to splice into a backend
 * request: the client's text unchanged, or an empty object schema when the
 * tool takes no parameters (both dialects require a schema).
 */
export function toolParametersJson(tool: Tool): string {
  return tool.parametersJson === "" ? noParameters : tool.parametersJson;
}
