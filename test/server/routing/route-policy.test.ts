import { describe, expect, it } from "vitest";
import { defaultRoutePolicy, type RoutePolicy } from "../../../server/config/resolved-config.js";
import { createRoutePolicies } from "../../../server/routing/route-policy.js";

const policy = (maxDeadlineMs: number): RoutePolicy => ({ ...defaultRoutePolicy, maxDeadlineMs });

describe("createRoutePolicies", () => {
  const exact = policy(1);
  const prefix = policy(2);
  const everything = policy(3);
  const routes = createRoutePolicies(
    [
      { models: ["fast", "llama/qwen.gguf"], policy: exact },
      { models: ["qwen*"], policy: prefix },
      { models: ["*"], policy: everything },
    ],
    defaultRoutePolicy,
  );

  it("matches the requested name, the resolved id or `backend/model`, first route first", () => {
    expect(routes.policyFor({ requested: "fast" })).toBe(exact);
    expect(routes.policyFor({ requested: "qwen.gguf", id: "qwen.gguf", qualified: "llama/qwen.gguf" })).toBe(exact);
    expect(routes.policyFor({ requested: "qwen3:0.6b", id: "qwen3:0.6b", qualified: "ollama/qwen3:0.6b" })).toBe(prefix);
    expect(routes.policyFor({ requested: "mistral", id: "mistral" })).toBe(everything);
  });

  it("gives the default policy when nothing matches", () => {
    const none = createRoutePolicies([{ models: ["qwen*"], policy: prefix }], defaultRoutePolicy);
    expect(none.policyFor({ requested: "llama3", id: "llama3", qualified: "ollama/llama3" })).toBe(defaultRoutePolicy);
    expect(none.policyFor({ requested: "" })).toBe(defaultRoutePolicy);
  });
});
