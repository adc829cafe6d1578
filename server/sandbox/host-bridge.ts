/**
 * The host side of a sandbox SDK call: what happens to `(service, method,
 * JSON text)` after it leaves the isolate. Nothing the guest sends is
 * trusted: the method is looked up in the routes (never as an object
 * property), the JSON is parsed strictly into the method's request type and
 * checked against its protovalidate rules, and only then is the gateway's
 * own service (in-process) or the operator's upstream called. The answer
 * goes back as JSON text in the form the SDK declarations promise.
 */
import {
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromJsonString,
  type Message,
  toJsonString,
} from "@bufbuild/protobuf";
import type { Validator } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { sandboxJsonWriteOptions } from "../../sandbox/codegen/index.js";
import type { CallSdk, SdkReply } from "../../sandbox/executor/index.js";
import { createBoundedValidator } from "../interceptors/index.js";
import type { MethodRoute } from "./sandbox-sdk.js";

/** Options of {@link createHostBridge}. */
export interface HostBridgeOptions {
  /** The callable methods, by service property, then method name. */
  readonly routes: ReadonlyMap<string, ReadonlyMap<string, MethodRoute>>;
  /** Largest response handed back to the guest, as JSON bytes (default 4 MiB). */
  readonly maxResponseBytes?: number;
  /** Headers sent with every call (for example who the caller is). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The protovalidate validator (default: a new one that checks an oversized list only as far as its limit, see createBoundedValidator). */
  readonly validator?: Validator;
}

function fail(code: Code, message: string): SdkReply {
  return { kind: "error", code: codeToString(code), message };
}

/** Serializes a response as the SDK's declarations describe it. */
function responseJson(schema: DescMessage, message: Message): string {
  return toJsonString(schema, message, sandboxJsonWriteOptions);
}

/**
 * Creates the `callSdk` the executor calls for each SDK call of a run.
 * Answers are tagged values, never exceptions: an unknown method is
 * `not_found`, malformed JSON, an unknown field, a wrong type or a broken
 * rule is `invalid_argument` (nothing is sent then), a failed call carries
 * the Connect code it failed with, and a response too large to hand back is
 * `resource_exhausted`. Server streams are collected into a JSON array.
 *
 * @example
 * const callSdk = createHostBridge({ routes: sdk.routes });
 * await executor.execute({ code, services: sdk.exposed, callSdk });
 */
export function createHostBridge(options: HostBridgeOptions): CallSdk {
  const validator = options.validator ?? createBoundedValidator();
  const maxResponseBytes = options.maxResponseBytes ?? 4 * 1024 * 1024;
  const headers = options.headers ?? {};

  return async ({ service, method, requestJson, signal }) => {
    const route = options.routes.get(service)?.get(method);
    if (route === undefined) return fail(Code.NotFound, `gateway.${service}.${method} does not exist`);
    const name = `gateway.${service}.${method}`;
    let request: Message;
    try {
      request = fromJsonString(route.desc.input, requestJson, { ignoreUnknownFields: false });
    } catch (error) {
      return fail(Code.InvalidArgument, `${name}: ${(error as Error).message}`);
    }
    const validation = validator.validate(route.desc.input, request);
    if (validation.kind === "invalid") return fail(Code.InvalidArgument, validation.error.message);
    if (validation.kind === "error") return fail(Code.Internal, `${name}: the request's rules could not be evaluated`);

    try {
      const desc = route.desc;
      if (desc.methodKind === "unary") {
        const unary = desc as DescMethodUnary; // DescMethod does not narrow on methodKind
        const response = await route.transport.unary(unary, signal, route.timeoutMs, headers, request);
        const json = responseJson(unary.output, response.message);
        return Buffer.byteLength(json, "utf8") > maxResponseBytes ? tooLarge(name, maxResponseBytes) : { kind: "ok", responseJson: json };
      }
      if (desc.methodKind === "server_streaming") {
        const streaming = desc as DescMethodServerStreaming; // as above
        const response = await route.transport.stream(streaming, signal, route.timeoutMs, headers, createAsyncIterable([request]));
        const parts: string[] = [];
        let bytes = 2;
        for await (const message of response.message) {
          const json = responseJson(desc.output, message);
          bytes += Buffer.byteLength(json, "utf8") + 1;
          if (bytes > maxResponseBytes) return tooLarge(name, maxResponseBytes);
          parts.push(json);
        }
        return { kind: "ok", responseJson: `[${parts.join(",")}]` };
      }
      return fail(Code.Unimplemented, `${name} is a streaming method the sandbox cannot call`);
    } catch (error) {
      const connectError = ConnectError.from(error);
      if (signal.aborted) return fail(Code.Canceled, `${name} was canceled: the run ended`);
      return { kind: "error", code: codeToString(connectError.code), message: connectError.rawMessage };
    }
  };
}

function tooLarge(name: string, limit: number): SdkReply {
  return fail(Code.ResourceExhausted, `${name}: the response is larger than ${limit} bytes; ask for less`);
}
