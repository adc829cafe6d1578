import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import type { HealthRegistry } from "../health/health-registry.js";

/**
 * Implements the standard grpc.health.v1.Health protocol over the health
 * registry: Check answers the current state (not_found for an unknown
 * name), Watch sends the current state and then every change until the
 * client cancels, the deadline passes or the server shuts down (which ends
 * it with unavailable, so clients reconnect elsewhere).
 *
 * @example
 * router.service(Health, createHealthService({ registry }));
 */
export function createHealthService(options: { readonly registry: HealthRegistry }): ServiceImpl<typeof Health> {
  const { registry } = options;
  return {
    check(request) {
      const status = registry.get(request.service);
      if (status === undefined) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      return { status };
    },
    async *watch(request, context) {
      const pending: ServingStatus[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = registry.subscribe(request.service, (status) => {
        pending.push(status);
        wake?.();
      });
      const aborted = new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
      try {
        let last = registry.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        yield { status: last };
        while (!context.signal.aborted) {
          if (pending.length === 0) {
            await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
            wake = undefined;
          }
          for (const status of pending.splice(0)) {
            if (status === last) continue;
            last = status;
            yield { status };
          }
        }
        // Watch never ends by itself: the abort (client cancel, deadline or
        // shutdown's unavailable) is how the stream ends, never with OK.
        throw ConnectError.from(context.signal.reason, Code.Canceled);
      } finally {
        unsubscribe();
      }
    },
  };
}
