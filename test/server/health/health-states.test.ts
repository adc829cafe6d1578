import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { ModelState } from "../../../gen/protogate/v1/model_service_pb.js";
import type { BackendStatus } from "../../../server/catalog/model-catalog.js";
import { computeHealthStates, modelHealthName } from "../../../server/health/health-states.js";
import type { RoutedModel } from "../../../server/routing/model-router.js";

const { SERVING, NOT_SERVING } = ServingStatus;

function backend(id: string, ready: boolean): BackendStatus {
  return { id, kind: "openai", url: `http://${id}`, reachable: ready, ready, models: 1, detail: "", checkedAt: 1 };
}

function model(id: string, backendId: string, state: ModelState): RoutedModel {
  return {
    id,
    name: id,
    backendId,
    backendKind: "openai",
    aliases: [],
    state,
    capabilities: {},
    contextLength: undefined,
    sizeBytes: undefined,
  };
}

/** The states as plain entries, sorted by name, for exact comparison. */
function entries(states: Map<string, ServingStatus>): Array<[string, ServingStatus]> {
  return [...states.entries()].sort(([a], [b]) => a.localeCompare(b));
}

describe("computeHealthStates", () => {
  it("serves the server and the inference service when a backend is ready, and each usable model", () => {
    const states = computeHealthStates(
      [backend("up", true), backend("down", false)],
      [
        model("loaded", "up", ModelState.LOADED),
        model("on-disk", "up", ModelState.AVAILABLE),
        model("loading", "up", ModelState.LOADING),
        model("gone", "up", ModelState.UNAVAILABLE),
        model("unset", "up", ModelState.UNSPECIFIED),
        model("stale", "down", ModelState.LOADED),
      ],
      false,
    );
    expect(entries(states)).toEqual([
      ["", SERVING],
      ["grpc.health.v1.Health", SERVING],
      ["model/gone", NOT_SERVING],
      ["model/loaded", SERVING],
      ["model/loading", NOT_SERVING],
      ["model/on-disk", SERVING],
      ["model/stale", NOT_SERVING],
      ["model/unset", NOT_SERVING],
      ["protogate.v1.InferenceService", SERVING],
      ["protogate.v1.ModelService", SERVING],
    ]);
  });

  it("keeps ModelService and Health serving when no backend is ready", () => {
    const states = computeHealthStates([backend("down", false)], [model("m", "down", ModelState.LOADED)], false);
    expect(entries(states)).toEqual([
      ["", NOT_SERVING],
      ["grpc.health.v1.Health", SERVING],
      ["model/m", NOT_SERVING],
      ["protogate.v1.InferenceService", NOT_SERVING],
      ["protogate.v1.ModelService", SERVING],
    ]);
  });

  it("reports everything NOT_SERVING while draining", () => {
    const states = computeHealthStates([backend("up", true)], [model("m", "up", ModelState.LOADED)], true);
    expect(new Set(states.values())).toEqual(new Set([NOT_SERVING]));
    expect(states.size).toBe(5);
  });

  it("names model checks `model/<id>`, with qualified ids as they are", () => {
    expect(modelHealthName("qwen3:0.6b")).toBe("model/qwen3:0.6b");
    expect(modelHealthName("ollama/qwen3")).toBe("model/ollama/qwen3");
  });
});
