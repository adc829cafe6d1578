/**
 * The sandbox SDK a gateway serves: the declarations and docs generated from
 * its own services' descriptors (gen/sandbox/descriptors.json) plus the
 * operator services loaded at start-up, and for every `gateway.<service>.
 * <method>` the route that performs the call.
 */
import { readFileSync } from "node:fs";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import {
  generateSandboxSurface,
  type LoadedDescriptorBundle,
  readDescriptorBundle,
  type SandboxCallKind,
  type SandboxSurface,
  selectServices,
} from "../../sandbox/codegen/index.js";
import { ConfigError } from "../config/config-file.js";
import type { OperatorService } from "./operator-services.js";

/** Where and how one sandbox method is called. */
export interface MethodRoute {
  /** The property on `gateway` (`models`). */
  readonly service: string;
  /** The method name as code uses it (`listModels`). */
  readonly method: string;
  readonly kind: SandboxCallKind;
  readonly desc: DescMethod;
  /** The gateway's in-process transport, or an operator's upstream. */
  readonly transport: Transport;
  /** Time limit of one call; undefined: the run's own wall time bounds it. */
  readonly timeoutMs: number | undefined;
  /** "gateway", or the operator service's name (for logs). */
  readonly target: string;
}

/** The SDK of one gateway. */
export interface SandboxSdk {
  /** Declarations, docs and services, as the checker and the docs search use them. */
  readonly surface: SandboxSurface;
  /** Routes by service property, then method name. */
  readonly routes: ReadonlyMap<string, ReadonlyMap<string, MethodRoute>>;
  /** Method names by service property, as the executor exposes them to the guest. */
  readonly exposed: Readonly<Record<string, readonly string[]>>;
}

/** Options of {@link createSandboxSdk}. */
export interface SandboxSdkOptions {
  /** The gateway's own services' descriptors (see {@link loadGatewayDescriptors}). */
  readonly gateway: LoadedDescriptorBundle;
  /** Calls the gateway's own services in-process. */
  readonly gatewayTransport: Transport;
  readonly operators: readonly OperatorService[];
  /** `service.method` or `service.*` patterns; empty: every method. */
  readonly allowedMethods: readonly string[];
}

/** Reads gen/sandbox/descriptors.json, which `buf generate` writes next to the committed SDK. */
export function loadGatewayDescriptors(): LoadedDescriptorBundle {
  const url = new URL("../../gen/sandbox/descriptors.json", import.meta.url);
  return readDescriptorBundle(JSON.parse(readFileSync(url, "utf8")) as unknown);
}

/**
 * Generates the SDK for the gateway's own services and the operator services
 * in one declaration file, and routes each method. Throws a ConfigError when
 * two services would get the same `gateway.<property>` or an allowed-method
 * pattern matches nothing.
 *
 * @example
 * const sdk = createSandboxSdk({ gateway: loadGatewayDescriptors(), gatewayTransport, operators: [], allowedMethods: [] });
 * sdk.surface.declarations; // the d.ts the checker uses
 */
export function createSandboxSdk(options: SandboxSdkOptions): SandboxSdk {
  const own = selectServices(options.gateway.files, options.gateway.selection);
  const names: Record<string, string> = Object.fromEntries(own.map((s) => [s.desc.typeName, s.property]));
  const include = own.map((s) => s.desc.typeName);
  const operatorOf = new Map<string, OperatorService>();
  for (const operator of options.operators) {
    for (const service of operator.services) {
      if (include.includes(service.typeName)) {
        throw new ConfigError(`operator service ${operator.name}: ${service.typeName} is already served`);
      }
      include.push(service.typeName);
      operatorOf.set(service.typeName, operator);
      const property = operator.properties[service.typeName];
      if (property !== undefined) names[service.typeName] = property;
    }
  }
  const patterns = new Set(options.allowedMethods);
  const matched = new Set<string>();
  const allowMethod =
    patterns.size === 0
      ? undefined
      : (property: string, method: string) => {
          for (const pattern of [`${property}.${method}`, `${property}.*`]) {
            if (patterns.has(pattern)) {
              matched.add(pattern);
              return true;
            }
          }
          return false;
        };
  let surface: SandboxSurface;
  try {
    surface = generateSandboxSurface([...options.gateway.files, ...options.operators.flatMap((o) => o.files)], {
      include,
      names,
      allowMethod,
      generatedBy: "protogate",
    });
  } catch (error) {
    throw new ConfigError(`sandbox SDK: ${(error as Error).message.replace(/^sandbox: /, "")}`);
  }
  for (const pattern of patterns) {
    if (!matched.has(pattern)) {
      throw new ConfigError(`sandbox.allowedMethods: "${pattern}" matches no method; services are ${own.map((s) => s.property).join(", ")}${options.operators.length > 0 ? " and the operator services'" : ""}`);
    }
  }
  const routes = new Map<string, Map<string, MethodRoute>>();
  const exposed: Record<string, string[]> = {};
  for (const service of surface.services) {
    const operator = operatorOf.get(service.desc.typeName);
    const byMethod = new Map<string, MethodRoute>();
    for (const method of service.methods) {
      byMethod.set(method.name, {
        service: service.property,
        method: method.name,
        kind: method.kind,
        desc: method.desc,
        transport: operator?.transport ?? options.gatewayTransport,
        timeoutMs: operator?.timeoutMs,
        target: operator?.name ?? "gateway",
      });
    }
    routes.set(service.property, byMethod);
    exposed[service.property] = service.methods.map((m) => m.name);
  }
  return { surface, routes, exposed };
}
