import type { BackendDiscovery, BackendKind, BackendModel } from "../backends/backend.js";
import { ModelState } from "../../gen/protogate/v1/model_service_pb.js";

/** What the router knows about one backend: config plus its last discovery. */
export interface BackendSnapshot {
  readonly backendId: string;
  readonly kind: BackendKind;
  /** The last successful discovery's models (kept while the backend is down). */
  readonly lastModels: readonly BackendModel[];
  /** The latest discovery, or undefined before the first one finished. */
  readonly discovery: BackendDiscovery | undefined;
  /** Models the config lists for this backend. */
  readonly configuredModels: readonly string[];
}

/** A model the gateway can route to. */
export interface RoutedModel extends BackendModel {
  /** The id clients use: the backend's name when unique, else `backend/name`. */
  readonly id: string;
  readonly backendId: string;
  readonly backendKind: BackendKind;
  readonly aliases: readonly string[];
}

/** The result of resolving a model name from a request. */
export type Resolution =
  | { readonly kind: "found"; readonly model: RoutedModel }
  | { readonly kind: "not-found"; readonly requested: string; readonly available: readonly string[] };

/** An immutable routing table built from one set of snapshots. */
export interface RoutingTable {
  /** Resolves an id, an alias or `backend/model`. */
  resolve(name: string): Resolution;
  /** Every model, in backend (config) order, then by name. */
  readonly models: readonly RoutedModel[];
}

/** An alias from the config. */
export interface AliasRule {
  readonly name: string;
  readonly model: string;
}

/**
 * Builds the routing table. Pure: no I/O, so the policy is testable without
 * sockets. When two backends have a model of the same name, the earlier
 * backend gets the plain id; `backend/name` always reaches a specific one.
 *
 * @example
 * const table = buildRoutingTable(snapshots, [{ name: "fast", model: "qwen3:0.6b" }]);
 * table.resolve("fast"); // { kind: "found", model: { id: "qwen3:0.6b", … } }
 */
export function buildRoutingTable(snapshots: readonly BackendSnapshot[], aliases: readonly AliasRule[]): RoutingTable {
  const byQualifiedName = new Map<string, Omit<RoutedModel, "aliases" | "id">>();
  const plainIds = new Map<string, string>();
  for (const snapshot of snapshots) {
    const discovery = snapshot.discovery;
    const reachable = discovery?.kind === "reachable";
    const discovered = reachable ? discovery.models : snapshot.lastModels;
    const names = new Map<string, BackendModel>();
    for (const model of discovered) names.set(model.name, reachable ? model : { ...model, state: ModelState.UNAVAILABLE });
    for (const name of snapshot.configuredModels) {
      if (!names.has(name)) {
        names.set(name, {
          name,
          state: reachable ? ModelState.AVAILABLE : ModelState.UNAVAILABLE,
          capabilities: {},
          contextLength: undefined,
          sizeBytes: undefined,
        });
      }
    }
    for (const model of [...names.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const qualified = `${snapshot.backendId}/${model.name}`;
      byQualifiedName.set(qualified, { ...model, backendId: snapshot.backendId, backendKind: snapshot.kind });
      if (!plainIds.has(model.name)) plainIds.set(model.name, qualified);
    }
  }

  // A name that reads as another backend's `backend/name` (vLLM's "org/model") would route
  // there, so such a model keeps its qualified id: `backend/name` always wins.
  const idOf = (qualified: string, name: string) =>
    plainIds.get(name) === qualified && !byQualifiedName.has(name) ? name : qualified;
  const findQualified = (name: string): string | undefined =>
    byQualifiedName.has(name) ? name : plainIds.get(name);

  const aliasTargets = new Map<string, string>();
  const aliasesByTarget = new Map<string, string[]>();
  for (const alias of aliases) {
    const target = findQualified(alias.model);
    if (target === undefined || aliasTargets.has(alias.name)) continue;
    aliasTargets.set(alias.name, target);
    aliasesByTarget.set(target, [...(aliasesByTarget.get(target) ?? []), alias.name]);
  }

  const routed = new Map<string, RoutedModel>();
  for (const [qualified, model] of byQualifiedName) {
    routed.set(qualified, { ...model, id: idOf(qualified, model.name), aliases: aliasesByTarget.get(qualified) ?? [] });
  }
  const models = [...routed.values()];

  return {
    models,
    resolve(name) {
      const qualified = aliasTargets.get(name) ?? findQualified(name);
      const model = qualified === undefined ? undefined : routed.get(qualified);
      if (model !== undefined) return { kind: "found", model };
      const available = [...models.map((m) => m.id), ...aliasTargets.keys()].slice(0, 100);
      return { kind: "not-found", requested: name, available };
    },
  };
}
