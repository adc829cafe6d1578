import type { ToolCall, Warning } from "../../gen/protogate/v1/chat_pb.js";
import type { RawToolCall } from "../backends/backend.js";
import { finalizeToolCall, synthesizeToolCallId } from "./tool-call-finalizer.js";

/** A tool-call delta as the client sees it, with the gateway's index. */
export interface AssembledDelta {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly argumentsFragment: string;
}

/** A complete tool call with the gateway's index. */
export interface AssembledCall {
  readonly index: number;
  readonly call: ToolCall;
}

/**
 * Reassembles tool calls from a backend's stream. Backends disagree about
 * indexes: Ollama's /v1 sends parallel calls all with index 0, so a new id
 * at an index that already has a different call starts a new call. The
 * gateway numbers calls 0, 1, … in the order they start. Argument fragments
 * are concatenated as they arrive, so the text stays byte-identical. A call
 * that starts without an id gets a synthesized one on its first delta, and
 * keeps it when it completes.
 */
export interface ToolCallAssembler {
  /** Adds a streamed fragment; returns the delta to forward. */
  addDelta(delta: { index: number; id: string | undefined; name: string | undefined; argumentsFragment: string }): AssembledDelta;
  /**
   * Adds a call that arrived whole; returns the delta to forward and, since
   * its arguments are already complete, the completed call.
   */
  addWhole(call: RawToolCall): { delta: AssembledDelta; completed: AssembledCall; warnings: Warning[] };
  /** Completes every call not completed yet (at the end of generation), in order. */
  complete(): { calls: AssembledCall[]; warnings: Warning[] };
  /** How many calls have started. */
  readonly count: number;
}

interface PendingCall {
  /** The backend's id; it may arrive after the first fragment and then only separates calls. */
  id: string | undefined;
  /** The id the client was shown on the first delta when the backend sent none. */
  readonly synthesizedId: string | undefined;
  name: string;
  arguments: string;
  completed: boolean;
}

/**
 * Creates an assembler for one streamed answer.
 *
 * @example
 * const assembler = createToolCallAssembler();
 * assembler.addDelta({ index: 0, id: "a", name: "f", argumentsFragment: '{"x":' });
 * assembler.addDelta({ index: 0, id: undefined, name: undefined, argumentsFragment: "1}" });
 * assembler.complete().calls[0].call.arguments; // '{"x":1}'
 */
export function createToolCallAssembler(): ToolCallAssembler {
  const calls: PendingCall[] = [];
  /** Backend index → gateway index of the call currently open there. */
  const openByBackendIndex = new Map<number, number>();

  function start(call: PendingCall): number {
    calls.push(call);
    return calls.length - 1;
  }

  return {
    addDelta(delta) {
      let index = openByBackendIndex.get(delta.index);
      const open = index === undefined ? undefined : calls[index];
      const startsNew =
        open === undefined ||
        (delta.id !== undefined && delta.id !== "" && open.id !== undefined && open.id !== delta.id);
      if (startsNew) {
        const id = delta.id === "" ? undefined : delta.id;
        const synthesizedId = id === undefined ? synthesizeToolCallId() : undefined;
        index = start({ id, synthesizedId, name: delta.name ?? "", arguments: "", completed: false });
        openByBackendIndex.set(delta.index, index);
      }
      const call = calls[index as number] as PendingCall;
      if (call.id === undefined && delta.id !== undefined && delta.id !== "") call.id = delta.id;
      if (delta.name !== undefined && call.name === "") call.name = delta.name;
      call.arguments += delta.argumentsFragment;
      return {
        index: index as number,
        id: startsNew ? (call.synthesizedId ?? call.id ?? "") : "",
        name: startsNew ? call.name : "",
        argumentsFragment: delta.argumentsFragment,
      };
    },
    addWhole(raw) {
      const index = start({ id: raw.id, synthesizedId: undefined, name: raw.name, arguments: raw.arguments, completed: true });
      const finalized = finalizeToolCall(raw, index);
      return {
        delta: { index, id: finalized.call.id, name: raw.name, argumentsFragment: raw.arguments },
        completed: { index, call: finalized.call },
        warnings: finalized.warnings,
      };
    },
    complete() {
      const warnings: Warning[] = [];
      const completed: AssembledCall[] = [];
      calls.forEach((pending, index) => {
        if (pending.completed) return;
        pending.completed = true;
        // An id shown to the client stays the call's id, even if the backend's arrived later.
        const id = pending.synthesizedId === undefined ? pending.id : undefined;
        const finalized = finalizeToolCall({ id, name: pending.name, arguments: pending.arguments }, index, pending.synthesizedId);
        warnings.push(...finalized.warnings);
        completed.push({ index, call: finalized.call });
      });
      return { calls: completed, warnings };
    },
    get count() {
      return calls.length;
    },
  };
}
