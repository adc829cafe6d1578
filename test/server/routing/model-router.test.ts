import { describe, expect, it } from "vitest";
import { ModelState } from "../../../gen/protogate/v1/model_service_pb.js";
import type { BackendDiscovery, BackendKind, BackendModel } from "../../../server/backends/backend.js";
import { type BackendSnapshot, buildRoutingTable, type Resolution } from "../../../server/routing/model-router.js";

function model(name: string, state = ModelState.LOADED, contextLength?: number): BackendModel {
  return { name, state, capabilities: { tools: true }, contextLength, sizeBytes: undefined };
}

function reachable(...models: BackendModel[]): BackendDiscovery {
  return { kind: "reachable", ready: true, models, detail: "" };
}

function snapshot(
  backendId: string,
  discovery: BackendDiscovery | undefined,
  extra: { kind?: BackendKind; lastModels?: BackendModel[]; configuredModels?: string[] } = {},
): BackendSnapshot {
  return {
    backendId,
    kind: extra.kind ?? "openai",
    discovery,
    lastModels: extra.lastModels ?? (discovery?.kind === "reachable" ? discovery.models : []),
    configuredModels: extra.configuredModels ?? [],
  };
}

/** Where a name resolves: `backend/name`, or "not-found". */
function target(resolution: Resolution): string {
  return resolution.kind === "found" ? `${resolution.model.backendId}/${resolution.model.name}` : "not-found";
}

describe("buildRoutingTable", () => {
  it("gives the first backend the plain id of a shared name, and everyone `backend/name`", () => {
    const table = buildRoutingTable(
      [snapshot("llamacpp", reachable(model("qwen3"))), snapshot("ollama", reachable(model("qwen3"), model("llama3.2:1b")), { kind: "ollama" })],
      [],
    );
    expect(table.models.map((routed) => [routed.id, routed.backendId, routed.backendKind, routed.name])).toEqual([
      ["qwen3", "llamacpp", "openai", "qwen3"],
      ["llama3.2:1b", "ollama", "ollama", "llama3.2:1b"],
      ["ollama/qwen3", "ollama", "ollama", "qwen3"],
    ]);
    expect(target(table.resolve("qwen3"))).toBe("llamacpp/qwen3");
    expect(target(table.resolve("llamacpp/qwen3"))).toBe("llamacpp/qwen3");
    expect(target(table.resolve("ollama/qwen3"))).toBe("ollama/qwen3");
    expect(target(table.resolve("llama3.2:1b"))).toBe("ollama/llama3.2:1b");
    expect(target(table.resolve("ollama/llama3.2:1b"))).toBe("ollama/llama3.2:1b");
  });

  it("keeps a model's fields and lists models in backend order, then by name", () => {
    const table = buildRoutingTable(
      [snapshot("b", reachable(model("zeta", ModelState.LOADED, 4096), model("alpha"))), snapshot("a", reachable(model("mid")))],
      [],
    );
    expect(table.models.map((routed) => routed.id)).toEqual(["alpha", "zeta", "mid"]);
    const found = table.resolve("zeta");
    expect(found).toEqual({
      kind: "found",
      model: {
        name: "zeta",
        state: ModelState.LOADED,
        capabilities: { tools: true },
        contextLength: 4096,
        sizeBytes: undefined,
        id: "zeta",
        backendId: "b",
        backendKind: "openai",
        aliases: [],
      },
    });
  });

  it("reaches a backend's model by `backend/name` even when another backend has a model named like that", () => {
    // vLLM names models after Hugging Face repositories, which look like `backend/name`.
    const table = buildRoutingTable(
      [snapshot("vllm", reachable(model("qwen/qwen3"))), snapshot("qwen", reachable(model("qwen3")))],
      [],
    );
    expect(target(table.resolve("qwen/qwen3"))).toBe("qwen/qwen3");
    expect(target(table.resolve("vllm/qwen/qwen3"))).toBe("vllm/qwen/qwen3");
    const ids = table.models.map((routed) => routed.id);
    expect(ids).toEqual(["vllm/qwen/qwen3", "qwen3"]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("resolves aliases to ids or `backend/name`, lists them on their model and ignores aliases to nothing", () => {
    const table = buildRoutingTable(
      [snapshot("one", reachable(model("m"))), snapshot("two", reachable(model("m"), model("n")))],
      [
        { name: "fast", model: "m" },
        { name: "second", model: "two/m" },
        { name: "also-fast", model: "one/m" },
        { name: "fast", model: "n" },
        { name: "ghost", model: "nope" },
      ],
    );
    expect(target(table.resolve("fast"))).toBe("one/m");
    expect(target(table.resolve("second"))).toBe("two/m");
    expect(target(table.resolve("also-fast"))).toBe("one/m");
    expect(target(table.resolve("ghost"))).toBe("not-found");
    expect(table.models.map((routed) => [routed.id, routed.aliases])).toEqual([
      ["m", ["fast", "also-fast"]],
      ["two/m", ["second"]],
      ["n", []],
    ]);
  });

  it("answers an unknown name with the ids and aliases that exist", () => {
    const table = buildRoutingTable(
      [snapshot("one", reachable(model("m"))), snapshot("two", reachable(model("m")))],
      [{ name: "fast", model: "m" }],
    );
    expect(table.resolve("missing")).toEqual({ kind: "not-found", requested: "missing", available: ["m", "two/m", "fast"] });
    expect(table.resolve("three/m")).toEqual({ kind: "not-found", requested: "three/m", available: ["m", "two/m", "fast"] });
  });

  it("caps the list of available names at 100", () => {
    const models = Array.from({ length: 150 }, (_, index) => model(`m${String(index).padStart(3, "0")}`));
    const resolution = buildRoutingTable([snapshot("b", reachable(...models))], []).resolve("x");
    expect(resolution.kind === "not-found" ? resolution.available.length : -1).toBe(100);
  });

  it("keeps an unreachable backend's last models, marked UNAVAILABLE", () => {
    const lastModels = [model("kept", ModelState.LOADED, 2048)];
    const table = buildRoutingTable(
      [snapshot("down", { kind: "unreachable", detail: "connection refused" }, { lastModels })],
      [{ name: "alias", model: "kept" }],
    );
    expect(table.models.map((routed) => [routed.id, routed.state, routed.contextLength, routed.aliases])).toEqual([
      ["kept", ModelState.UNAVAILABLE, 2048, ["alias"]],
    ]);
    expect(target(table.resolve("alias"))).toBe("down/kept");
  });

  it("keeps a reachable but loading backend's states as discovered", () => {
    const loading: BackendDiscovery = { kind: "reachable", ready: false, models: [model("big", ModelState.LOADING)], detail: "" };
    const table = buildRoutingTable([snapshot("llamacpp", loading)], []);
    expect(table.models.map((routed) => [routed.id, routed.state])).toEqual([["big", ModelState.LOADING]]);
  });

  it("adds configured models: AVAILABLE on a reachable backend, UNAVAILABLE otherwise or before discovery", () => {
    const table = buildRoutingTable(
      [
        snapshot("up", reachable(model("listed")), { configuredModels: ["listed", "unlisted"] }),
        snapshot("down", { kind: "unreachable", detail: "" }, { configuredModels: ["cfg"] }),
        snapshot("new", undefined, { configuredModels: ["early"] }),
      ],
      [],
    );
    expect(table.models.map((routed) => [routed.id, routed.state, routed.capabilities])).toEqual([
      ["listed", ModelState.LOADED, { tools: true }],
      ["unlisted", ModelState.AVAILABLE, {}],
      ["cfg", ModelState.UNAVAILABLE, {}],
      ["early", ModelState.UNAVAILABLE, {}],
    ]);
  });

  it("builds an empty table from no backends", () => {
    const table = buildRoutingTable([], [{ name: "a", model: "b" }]);
    expect(table.models).toEqual([]);
    expect(table.resolve("a")).toEqual({ kind: "not-found", requested: "a", available: [] });
  });
});
