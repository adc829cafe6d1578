/**
 * Cross-cutting concerns of every RPC, as connect interceptors. The
 * observability interceptor goes first in the list, so it sees every
 * outcome, validation failures included.
 */
export { type ObservabilityInterceptorOptions, createObservabilityInterceptor, sessionIdHeader } from "./observability-interceptor.js";
