import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../../gen/protogate/v1/inference_service_pb.js";
import { ModelService, ModelState } from "../../gen/protogate/v1/model_service_pb.js";
import type { BackendStatus } from "../catalog/model-catalog.js";
import type { RoutedModel } from "../routing/model-router.js";

/** The health-check name of one model. */
export function modelHealthName(modelId: string): string {
  return `model/${modelId}`;
}

/**
 * Computes every health-check state from backend readiness and the model
 * table. Pure, so the semantics are testable without a server:
 * - "" and InferenceService: SERVING when at least one backend is ready;
 * - ModelService and Health: SERVING while the server is not draining;
 * - `model/<id>`: SERVING when its backend is ready and the model is not
 *   loading or unavailable.
 * While draining for shutdown everything is NOT_SERVING.
 */
export function computeHealthStates(
  backends: readonly BackendStatus[],
  models: readonly RoutedModel[],
  draining: boolean,
): Map<string, ServingStatus> {
  const serving = (up: boolean) => (up && !draining ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  const readyBackends = new Set(backends.filter((backend) => backend.ready).map((backend) => backend.id));
  const anyReady = readyBackends.size > 0;
  const states = new Map<string, ServingStatus>([
    ["", serving(anyReady)],
    [InferenceService.typeName, serving(anyReady)],
    [ModelService.typeName, serving(true)],
    [Health.typeName, serving(true)],
  ]);
  for (const model of models) {
    const usable = model.state === ModelState.LOADED || model.state === ModelState.AVAILABLE;
    states.set(modelHealthName(model.id), serving(readyBackends.has(model.backendId) && usable));
  }
  return states;
}
