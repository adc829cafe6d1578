import { Code, ConnectError } from "@connectrpc/connect";
import { ModelNotFoundDetailSchema } from "../../gen/protogate/v1/errors_pb.js";
import type { ModelCatalog } from "../catalog/model-catalog.js";
import type { RoutedModel } from "../routing/model-router.js";

/**
 * Resolves a model name from a request. An unknown name triggers one
 * (rate-limited) rediscovery, so a model pulled a moment ago is found; if it
 * is still unknown the error is not_found and names what exists, in the
 * message and in a ModelNotFoundDetail.
 */
export async function resolveModel(catalog: ModelCatalog, name: string): Promise<RoutedModel> {
  let resolution = catalog.table().resolve(name);
  if (resolution.kind === "not-found") {
    await catalog.refreshAfterMiss();
    resolution = catalog.table().resolve(name);
  }
  if (resolution.kind === "found") return resolution.model;
  const { available } = resolution;
  const listed = available.length === 0 ? "no models are available (is a backend running?)" : `available: ${available.slice(0, 20).join(", ")}${available.length > 20 ? ", …" : ""}`;
  throw new ConnectError(`model "${name}" not found; ${listed}`, Code.NotFound, undefined, [
    { desc: ModelNotFoundDetailSchema, value: { requested: name, available: [...available] } },
  ]);
}
