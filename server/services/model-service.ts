import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Model,
  ModelSchema,
  type ModelService,
} from "../../gen/protogate/v1/model_service_pb.js";
import type { ModelCatalog } from "../catalog/model-catalog.js";
import type { RoutedModel } from "../routing/model-router.js";
import { resolveModel } from "./model-resolution.js";

/**
 * Implements protogate.v1.ModelService from the catalog. Both methods are
 * side-effect free (apart from a rate-limited rediscovery on a miss), so
 * they are also served as Connect GET requests.
 *
 * @example
 * router.service(ModelService, createModelService({ catalog }));
 */
export function createModelService(options: { readonly catalog: ModelCatalog }): ServiceImpl<typeof ModelService> {
  return {
    listModels(request) {
      const models = options.catalog
        .table()
        .models.filter((model) => request.backend === "" || model.backendId === request.backend);
      return { models: models.map(toProto) };
    },
    async getModel(request) {
      return { model: toProto(await resolveModel(options.catalog, request.model)) };
    },
  };
}

/** The contract's Model for a routed model. */
function toProto(model: RoutedModel): Model {
  return create(ModelSchema, {
    id: model.id,
    backend: model.backendId,
    backendKind: model.backendKind,
    backendModel: model.name,
    aliases: [...model.aliases],
    state: model.state,
    capabilities: model.capabilities,
    ...(model.contextLength === undefined ? {} : { contextLength: model.contextLength }),
    ...(model.sizeBytes === undefined ? {} : { sizeBytes: model.sizeBytes }),
  });
}
