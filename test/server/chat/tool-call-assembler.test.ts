import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArgumentsStatus, ToolCallSchema, WarningCode } from "../../../gen/protogate/v1/chat_pb.js";
import { createToolCallAssembler } from "../../../server/chat/tool-call-assembler.js";
import { TRICKY_ARGUMENTS } from "../../helpers/tricky-json.js";

const synthesizedId = /^call_[0-9a-f]{24}$/;

function delta(index: number, id: string | undefined, name: string | undefined, argumentsFragment: string) {
  return { index, id, name, argumentsFragment };
}

/** [index, id, name, arguments, status, idSynthesized] of each completed call. */
function rows(calls: ReturnType<ReturnType<typeof createToolCallAssembler>["complete"]>["calls"]) {
  return calls.map(({ index, call }) => [index, call.id, call.name, call.arguments, call.argumentsStatus, call.idSynthesized]);
}

describe("createToolCallAssembler: streamed fragments", () => {
  it("concatenates fragments byte-identically and forwards id and name only on the first delta", () => {
    const assembler = createToolCallAssembler();
    const fragments = [TRICKY_ARGUMENTS.slice(0, 7), TRICKY_ARGUMENTS.slice(7, 40), TRICKY_ARGUMENTS.slice(40)];
    expect(assembler.addDelta(delta(0, "call_1", "lookup", ""))).toEqual({ index: 0, id: "call_1", name: "lookup", argumentsFragment: "" });
    expect(fragments.map((fragment) => assembler.addDelta(delta(0, undefined, undefined, fragment)))).toEqual(
      fragments.map((fragment) => ({ index: 0, id: "", name: "", argumentsFragment: fragment })),
    );
    const { calls, warnings } = assembler.complete();
    expect(calls).toEqual([
      {
        index: 0,
        call: create(ToolCallSchema, {
          id: "call_1",
          name: "lookup",
          arguments: TRICKY_ARGUMENTS,
          argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT,
          idSynthesized: false,
        }),
      },
    ]);
    expect(warnings).toEqual([]);
    expect(assembler.count).toBe(1);
  });

  it("keeps interleaved calls at different backend indexes apart", () => {
    const assembler = createToolCallAssembler();
    const forwarded = [
      delta(0, "a", "f", '{"x":'),
      delta(1, "b", "g", '{"y":'),
      delta(0, undefined, undefined, "1}"),
      delta(1, undefined, undefined, "2}"),
    ].map((piece) => assembler.addDelta(piece).index);
    expect(forwarded).toEqual([0, 1, 0, 1]);
    expect(rows(assembler.complete().calls)).toEqual([
      [0, "a", "f", '{"x":1}', ArgumentsStatus.VALID_JSON_OBJECT, false],
      [1, "b", "g", '{"y":2}', ArgumentsStatus.VALID_JSON_OBJECT, false],
    ]);
  });

  it("separates parallel calls that all arrive at index 0 with different ids (Ollama /v1)", () => {
    const assembler = createToolCallAssembler();
    const forwarded = [
      delta(0, "call_a", "f", ""),
      delta(0, undefined, undefined, '{"x":1}'),
      delta(0, "call_b", "g", ""),
      delta(0, undefined, undefined, '{"y":'),
      delta(0, undefined, undefined, "2}"),
      delta(0, "call_c", "h", "{}"),
    ].map((piece) => assembler.addDelta(piece));
    expect(forwarded.map((piece) => [piece.index, piece.id, piece.name])).toEqual([
      [0, "call_a", "f"],
      [0, "", ""],
      [1, "call_b", "g"],
      [1, "", ""],
      [1, "", ""],
      [2, "call_c", "h"],
    ]);
    expect(rows(assembler.complete().calls)).toEqual([
      [0, "call_a", "f", '{"x":1}', ArgumentsStatus.VALID_JSON_OBJECT, false],
      [1, "call_b", "g", '{"y":2}', ArgumentsStatus.VALID_JSON_OBJECT, false],
      [2, "call_c", "h", "{}", ArgumentsStatus.VALID_JSON_OBJECT, false],
    ]);
    expect(assembler.count).toBe(3);
  });

  it("keeps fragments that repeat the same id in one call", () => {
    const assembler = createToolCallAssembler();
    assembler.addDelta(delta(0, "same", "f", '{"a"'));
    assembler.addDelta(delta(0, "same", undefined, ":1}"));
    expect(rows(assembler.complete().calls)).toEqual([[0, "same", "f", '{"a":1}', ArgumentsStatus.VALID_JSON_OBJECT, false]]);
  });

  it.each([undefined, ""])("synthesizes a call_ id for a missing id (%j), flags it, warns, and forwards it on the first delta", (id) => {
    const assembler = createToolCallAssembler();
    const first = assembler.addDelta(delta(0, id, "lookup", '{"q":'));
    const next = assembler.addDelta(delta(0, undefined, undefined, '"x"}'));
    const { calls, warnings } = assembler.complete();
    const call = calls[0]?.call;
    expect(call?.id).toMatch(synthesizedId);
    expect(call?.idSynthesized).toBe(true);
    expect(call?.arguments).toBe('{"q":"x"}');
    expect(first.id).toBe(call?.id);
    expect(next.id).toBe("");
    expect(warnings.map((warning) => [warning.code, warning.field])).toEqual([[WarningCode.TOOL_CALL_ID_SYNTHESIZED, "tool_calls[0].id"]]);
  });

  it("keeps the id it showed the client when the backend's id arrives only later", () => {
    const assembler = createToolCallAssembler();
    const first = assembler.addDelta(delta(0, undefined, "f", "{"));
    assembler.addDelta(delta(0, "late", undefined, "}"));
    const next = assembler.addDelta(delta(0, "other", "g", "{}"));
    expect(next.index).toBe(1);
    expect(rows(assembler.complete().calls)).toEqual([
      [0, first.id, "f", "{}", ArgumentsStatus.VALID_JSON_OBJECT, true],
      [1, "other", "g", "{}", ArgumentsStatus.VALID_JSON_OBJECT, false],
    ]);
  });

  it("synthesizes a different id for every call without one", () => {
    const assembler = createToolCallAssembler();
    assembler.addDelta(delta(0, undefined, "f", "{}"));
    assembler.addDelta(delta(1, undefined, "g", "{}"));
    const ids = assembler.complete().calls.map(({ call }) => call.id);
    expect(new Set(ids).size).toBe(2);
  });

  it.each([
    ['{"a":1', ArgumentsStatus.INVALID_JSON],
    ["[1,2]", ArgumentsStatus.NOT_AN_OBJECT],
  ])("passes %j on unchanged with status %i and a warning", (text, status) => {
    const assembler = createToolCallAssembler();
    assembler.addDelta(delta(0, "c", "f", text));
    const { calls, warnings } = assembler.complete();
    expect(rows(calls)).toEqual([[0, "c", "f", text, status, false]]);
    expect(warnings.map((warning) => [warning.code, warning.field])).toEqual([[WarningCode.TOOL_CALL_ARGUMENTS_INVALID, "tool_calls[0].arguments"]]);
  });

  it("reports an empty argument text as EMPTY without a warning", () => {
    const assembler = createToolCallAssembler();
    assembler.addDelta(delta(0, "c", "f", ""));
    const { calls, warnings } = assembler.complete();
    expect(rows(calls)).toEqual([[0, "c", "f", "", ArgumentsStatus.EMPTY, false]]);
    expect(warnings).toEqual([]);
  });

  it("completes each call once", () => {
    const assembler = createToolCallAssembler();
    assembler.addDelta(delta(0, "c", "f", "{}"));
    expect(assembler.complete().calls).toHaveLength(1);
    expect(assembler.complete()).toEqual({ calls: [], warnings: [] });
  });
});

describe("createToolCallAssembler: whole calls", () => {
  it("completes a whole call at once and numbers calls in arrival order", () => {
    const assembler = createToolCallAssembler();
    const first = assembler.addWhole({ id: "call_1", name: "f", arguments: TRICKY_ARGUMENTS });
    expect(first).toEqual({
      delta: { index: 0, id: "call_1", name: "f", argumentsFragment: TRICKY_ARGUMENTS },
      completed: {
        index: 0,
        call: create(ToolCallSchema, {
          id: "call_1",
          name: "f",
          arguments: TRICKY_ARGUMENTS,
          argumentsStatus: ArgumentsStatus.VALID_JSON_OBJECT,
        }),
      },
      warnings: [],
    });
    const second = assembler.addWhole({ id: "call_2", name: "g", arguments: "{}" });
    expect([second.delta.index, second.completed.index]).toEqual([1, 1]);
    expect(assembler.count).toBe(2);
    expect(assembler.complete()).toEqual({ calls: [], warnings: [] });
  });

  it("gives a whole call without id the same synthesized id in its delta and its completion", () => {
    const assembler = createToolCallAssembler();
    const { delta: forwarded, completed, warnings } = assembler.addWhole({ id: undefined, name: "f", arguments: "{}" });
    expect(completed.call.id).toMatch(synthesizedId);
    expect(forwarded.id).toBe(completed.call.id);
    expect(completed.call.idSynthesized).toBe(true);
    expect(warnings.map((warning) => warning.code)).toEqual([WarningCode.TOOL_CALL_ID_SYNTHESIZED]);
  });

  it("numbers streamed calls after whole ones", () => {
    const assembler = createToolCallAssembler();
    assembler.addWhole({ id: "w", name: "f", arguments: "{}" });
    expect(assembler.addDelta(delta(0, "s", "g", "{}")).index).toBe(1);
    expect(rows(assembler.complete().calls)).toEqual([[1, "s", "g", "{}", ArgumentsStatus.VALID_JSON_OBJECT, false]]);
  });
});
