import { type DescMessage, type MessageShape, create } from "@bufbuild/protobuf";
import { type Validator, createValidator } from "@bufbuild/protovalidate";
import { describe, expect, it } from "vitest";
import { MessageSchema, Role } from "../../../gen/protogate/v1/chat_pb.js";
import { ChatRequestSchema } from "../../../gen/protogate/v1/inference_service_pb.js";
import { createBoundedValidator } from "../../../server/interceptors/index.js";

const user = (content: string) => create(MessageSchema, { role: Role.USER, content });
/** A tool result without its tool_call_id: a violation of the message's own rule. */
const orphanToolResult = create(MessageSchema, { role: Role.TOOL, content: "42" });

/** A validator that remembers how many messages each request it saw had. */
function countingValidator(): { validator: Validator; seen: number[] } {
  const inner = createValidator();
  const seen: number[] = [];
  return {
    seen,
    validator: {
      validate<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>) {
        seen.push(((message as Record<string, unknown>).messages as unknown[]).length);
        return inner.validate(schema, message);
      },
    },
  };
}

function violationsOf(result: ReturnType<Validator["validate"]>): string[] {
  return result.kind === "invalid" ? result.violations.map((violation) => violation.toString()) : [];
}

describe("bounded validator", () => {
  it("answers like protovalidate for requests within their size rules", () => {
    const plain = createValidator();
    const bounded = createBoundedValidator();
    for (const request of [
      create(ChatRequestSchema, { model: "m", messages: [user("hi")] }),
      create(ChatRequestSchema, { model: "", messages: [user("hi"), orphanToolResult] }),
      create(ChatRequestSchema, { model: "m", messages: [] }),
      create(ChatRequestSchema, { model: "m", messages: Array.from({ length: 4096 }, () => user("a")) }),
    ]) {
      const expected = plain.validate(ChatRequestSchema, request);
      const actual = bounded.validate(ChatRequestSchema, request);
      expect(actual.kind).toBe(expected.kind);
      expect(violationsOf(actual)).toEqual(violationsOf(expected));
    }
  });

  it("checks a list over its max_items only one element past the limit, and still reports the rest", () => {
    const { validator, seen } = countingValidator();
    const messages = Array.from({ length: 20_000 }, () => user("a"));
    messages[10] = orphanToolResult;
    messages[10_000] = orphanToolResult; // past the limit: not looked at
    const request = create(ChatRequestSchema, { model: "", messages });
    const result = createBoundedValidator(validator).validate(ChatRequestSchema, request);
    expect(seen).toEqual([4097]);
    expect(violationsOf(result)).toEqual([
      "model: must be at least 1 characters [string.min_len]",
      "messages: must contain no more than 4096 item(s) [repeated.max_items]",
      "messages[10]: a tool message needs tool_call_id [message.tool_call_id]",
    ]);
    // The request itself is left as it was.
    expect(request.messages).toHaveLength(20_000);
  });
});
