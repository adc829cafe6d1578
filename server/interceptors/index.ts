/**
 * Cross-cutting concerns of every RPC, as connect interceptors. The
 * observability interceptor goes first in the list, so it sees every
 * outcome, validation failures included; the refused-RPC recorder covers
 * the requests connect refuses before any interceptor runs.
 */
export {
  type ObservabilityInterceptorOptions,
  type RefusedRpc,
  createObservabilityInterceptor,
  createRefusedRpcRecorder,
  sessionIdHeader,
} from "./observability-interceptor.js";
export { createBoundedValidator } from "./bounded-validator.js";
