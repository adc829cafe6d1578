import type { ConnectError } from "@connectrpc/connect";
import { BackendErrorDetailSchema } from "../../gen/protogate/v1/errors_pb.js";

/**
 * The BackendErrorDetail fields of an error, read the way a client reads
 * them (`findDetails`), as plain objects a test can compare exactly.
 *
 * @example
 * expect(backendErrorDetails(error)).toEqual([{ backend: "vllm", httpStatus: 503, retryable: true, retryAfterMs: 0 }]);
 */
export function backendErrorDetails(error: ConnectError) {
  return error.findDetails(BackendErrorDetailSchema).map(({ backend, httpStatus, retryable, retryAfterMs }) => ({
    backend,
    httpStatus,
    retryable,
    retryAfterMs,
  }));
}
