import type { ResolvedRoute, RoutePolicy } from "../config/resolved-config.js";

/** The names one request's model goes by, all of which a route may match. */
export interface RouteSubject {
  /** The name in the request (an id, an alias or `backend/model`). */
  readonly requested: string;
  /** The id it resolved to, when it did. */
  readonly id?: string | undefined;
  /** `backend/model` of what it resolved to, when it did. */
  readonly qualified?: string | undefined;
}

/** Picks the reliability policy of a request from the configured routes. */
export interface RoutePolicies {
  /** The first matching route's policy, or the default. */
  policyFor(subject: RouteSubject): RoutePolicy;
}

/**
 * Creates the route matcher. Pure: no I/O. A route matches when one of its
 * patterns equals one of the subject's names, or ends in `*` and is a
 * prefix of one (`*` alone matches everything). Routes are tried in config
 * order; the first match wins.
 *
 * @example
 * const routes = createRoutePolicies([{ models: ["qwen*"], policy }], defaultRoutePolicy);
 * routes.policyFor({ requested: "qwen3:0.6b" }) === policy; // true
 */
export function createRoutePolicies(routes: readonly ResolvedRoute[], fallback: RoutePolicy): RoutePolicies {
  const compiled = routes.map((route) => ({
    policy: route.policy,
    matches: route.models.map((pattern): ((name: string) => boolean) => {
      if (!pattern.endsWith("*")) return (name) => name === pattern;
      const prefix = pattern.slice(0, -1);
      return (name) => name.startsWith(prefix);
    }),
  }));
  return {
    policyFor(subject) {
      const names = [subject.requested, subject.id, subject.qualified].filter((name): name is string => name !== undefined && name !== "");
      for (const route of compiled) {
        if (route.matches.some((match) => names.some(match))) return route.policy;
      }
      return fallback;
    },
  };
}
