import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { createHealthRegistry } from "../../../server/health/health-registry.js";

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = ServingStatus;

describe("createHealthRegistry", () => {
  it("answers the latest states and undefined for unknown names", () => {
    const registry = createHealthRegistry();
    expect(registry.get("")).toBeUndefined();
    registry.replaceAll(new Map([["", SERVING], ["model/a", NOT_SERVING]]));
    expect([registry.get(""), registry.get("model/a"), registry.get("model/b")]).toEqual([SERVING, NOT_SERVING, undefined]);
  });

  it("notifies watchers of changes only, with SERVICE_UNKNOWN when a name disappears", () => {
    const registry = createHealthRegistry();
    const seen: ServingStatus[] = [];
    const unsubscribe = registry.subscribe("model/a", (status) => seen.push(status));
    registry.replaceAll(new Map([["model/a", SERVING]]));
    registry.replaceAll(new Map([["model/a", SERVING], ["other", NOT_SERVING]]));
    registry.replaceAll(new Map([["model/a", NOT_SERVING]]));
    registry.replaceAll(new Map());
    unsubscribe();
    registry.replaceAll(new Map([["model/a", SERVING]]));
    expect(seen).toEqual([SERVING, NOT_SERVING, SERVICE_UNKNOWN]);
  });

  it("does not keep a reference to the caller's map", () => {
    const registry = createHealthRegistry();
    const states = new Map([["", SERVING]]);
    registry.replaceAll(states);
    states.set("", NOT_SERVING);
    expect(registry.get("")).toBe(SERVING);
  });
});
