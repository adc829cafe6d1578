import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type FieldPathElement,
  FieldPathElementSchema,
  FieldPathSchema,
  ViolationsSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

/**
 * Makes an invalid_argument error for a rule the proto cannot express (a
 * JSON text that must be an object, a backend option allowlist), with the
 * same `buf.validate.Violations` detail protovalidate attaches, so clients
 * handle every request error one way.
 *
 * @example
 * throw violationsError("tools[0].parameters_json", "tool.parameters_json", "must be a JSON object");
 */
export function violationsError(field: string, ruleId: string, message: string, code = Code.InvalidArgument): ConnectError {
  const detail = {
    desc: ViolationsSchema,
    value: { violations: [{ field: create(FieldPathSchema, { elements: parseFieldPath(field) }), ruleId, message }] },
  };
  return new ConnectError(`${field}: ${message}`, code, undefined, [detail]);
}

/** Turns `tools[0].parameters_json` or `a.b["k"]` into FieldPath elements (names and subscripts). */
function parseFieldPath(path: string): FieldPathElement[] {
  const elements: FieldPathElement[] = [];
  for (const match of path.matchAll(/([A-Za-z0-9_]+)((?:\[[^\]]*\])*)/g)) {
    const [, name = "", subscripts = ""] = match;
    const subscriptList = [...subscripts.matchAll(/\[([^\]]*)\]/g)].map((s) => s[1] ?? "");
    if (subscriptList.length === 0) {
      elements.push(create(FieldPathElementSchema, { fieldName: name }));
      continue;
    }
    for (const subscript of subscriptList) {
      elements.push(
        create(FieldPathElementSchema, {
          fieldName: name,
          subscript: /^\d+$/.test(subscript)
            ? { case: "index", value: BigInt(subscript) }
            : { case: "stringKey", value: subscript.replace(/^"|"$/g, "") },
        }),
      );
    }
  }
  return elements;
}
