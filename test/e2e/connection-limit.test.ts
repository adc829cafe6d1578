import { once } from "node:events";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RunningGateway } from "../../server/gateway.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";

describe("the connection limit", () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ backends: [], overrides: { maxConnections: 1 } });
  });
  afterAll(async () => {
    await gateway.close();
  });

  it("closes a connection over limits.maxConnections on arrival and counts it, and the gateway serves once one is free", async () => {
    const held = connect(gateway.port, "127.0.0.1");
    await once(held, "connect");
    // The one connection allowed is taken: the next is closed at once, its request unanswered.
    const refused = await fetch(`${gateway.url}/healthz`).then(
      () => "answered",
      () => "closed",
    );
    expect(refused).toBe("closed");
    // Read in process: a scrape over HTTP would need a connection of its own.
    expect(await gateway.operations.metrics.render()).toMatch(/^protogate_connections_dropped_total 1$/m);
    held.destroy();
    // The server notices the freed connection in its own time; until then a new one may still be closed.
    await vi.waitFor(async () => expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200));
  });
});
