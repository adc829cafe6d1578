import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

/**
 * Serving states by health-check name ("" for the whole server, a service
 * name, or `model/<id>`), with change notifications for Health.Watch.
 */
export interface HealthRegistry {
  /** The state of a name, or undefined when the name is not known. */
  get(name: string): ServingStatus | undefined;
  /** Replaces every state at once; notifies watchers of what changed. */
  replaceAll(states: ReadonlyMap<string, ServingStatus>): void;
  /**
   * Calls `listener` with the state of `name` whenever it changes
   * (SERVICE_UNKNOWN when it disappears); returns an unsubscribe function.
   */
  subscribe(name: string, listener: (status: ServingStatus) => void): () => void;
}

/**
 * Creates an empty registry.
 *
 * @example
 * const health = createHealthRegistry();
 * health.replaceAll(new Map([["", ServingStatus.SERVING]]));
 */
export function createHealthRegistry(): HealthRegistry {
  let states = new Map<string, ServingStatus>();
  const listeners = new Map<string, Set<(status: ServingStatus) => void>>();
  return {
    get: (name) => states.get(name),
    replaceAll(next) {
      const previous = states;
      states = new Map(next);
      for (const [name, set] of listeners) {
        const before = previous.get(name) ?? ServingStatus.SERVICE_UNKNOWN;
        const after = states.get(name) ?? ServingStatus.SERVICE_UNKNOWN;
        if (before !== after) for (const listener of set) listener(after);
      }
    },
    subscribe(name, listener) {
      const set = listeners.get(name) ?? new Set();
      set.add(listener);
      listeners.set(name, set);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(name);
      };
    },
  };
}
