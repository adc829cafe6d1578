/**
 * Which services the sandbox exposes on `gateway`, under which property
 * names, and which of their methods a sandbox call can express.
 */
import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import { isIdentifier } from "./doc-text.js";

/** Services never exposed unless named in `include`. */
export const defaultExcludedServices: readonly string[] = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

/** Chooses and names the exposed services. */
export interface ServiceSelection {
  /**
   * Fully-qualified names of the services to expose. When given, exactly
   * these are exposed (each must exist); by default every service of the
   * input files except the excluded ones.
   */
  readonly include?: readonly string[] | undefined;
  /** Fully-qualified names of services to leave out, besides the defaults. */
  readonly exclude?: readonly string[] | undefined;
  /**
   * Property names on `gateway` by fully-qualified service name, replacing
   * the default (the service name without its `Service` suffix, lowerCamel).
   */
  readonly names?: Readonly<Record<string, string>> | undefined;
  /**
   * Which methods to expose, by property and method name as code uses them
   * (`"models"`, `"listModels"`); every callable method by default. A
   * service left with no method is not exposed.
   */
  readonly allowMethod?: ((property: string, method: string) => boolean) | undefined;
}

/** How a sandbox call returns a method's result. */
export type SandboxCallKind =
  /** One request, one response. */
  | "unary"
  /** One request; the call resolves to all stream messages, in order. */
  | "server_stream_collected";

/** One method callable as `gateway.<service>.<method>(request)`. */
export interface SandboxMethod {
  /** The property name, lowerCamel (`chat`, `listModels`). */
  readonly name: string;
  readonly kind: SandboxCallKind;
  readonly desc: DescMethod;
}

/** One service exposed as `gateway.<property>`. */
export interface SandboxService {
  /** The property on `gateway` (`inference`, `models`). */
  readonly property: string;
  readonly desc: DescService;
  /** Its callable methods; client- and bidi-streaming methods are left out. */
  readonly methods: readonly SandboxMethod[];
}

function lowerCamel(name: string): string {
  return name.length === 0 ? name : name[0]?.toLowerCase() + name.slice(1);
}

/** `InferenceService` becomes `inference`, `ModelService` becomes `model`. */
export function defaultServiceProperty(service: DescService): string {
  const stripped = service.name.endsWith("Service") && service.name !== "Service"
    ? service.name.slice(0, -"Service".length)
    : service.name;
  return lowerCamel(stripped);
}

/**
 * Picks the exposed services of `files`. A service named `SandboxService`
 * is never exposed (code in the sandbox must not start more sandboxes).
 * Throws on a configuration error: an unknown included service, a name that
 * is not an identifier, or two services on one property.
 */
export function selectServices(files: readonly DescFile[], selection: ServiceSelection): SandboxService[] {
  const all = files.flatMap((f) => f.services);
  const byName = new Map(all.map((s) => [s.typeName, s]));
  const excluded = new Set(selection.exclude ?? []);
  const candidates =
    selection.include === undefined
      ? all.filter((s) => !defaultExcludedServices.includes(s.typeName))
      : selection.include.map((name) => {
          const service = byName.get(name);
          if (service === undefined) throw new Error(`sandbox: included service ${name} is not in the input`);
          return service;
        });
  const chosen = candidates.filter((s) => s.name !== "SandboxService" && !excluded.has(s.typeName));
  for (const name of Object.keys(selection.names ?? {})) {
    if (!byName.has(name)) throw new Error(`sandbox: named service ${name} is not in the input`);
  }
  const properties = new Map<string, string>();
  const selected = chosen.map((desc) => {
    const property = selection.names?.[desc.typeName] ?? defaultServiceProperty(desc);
    if (!isIdentifier(property)) {
      throw new Error(`sandbox: property name "${property}" for ${desc.typeName} is not an identifier`);
    }
    const clash = properties.get(property);
    if (clash !== undefined) {
      throw new Error(`sandbox: ${clash} and ${desc.typeName} would both be gateway.${property}`);
    }
    properties.set(property, desc.typeName);
    const methods = desc.methods.flatMap((m): SandboxMethod[] => {
      if (m.methodKind === "unary") return [{ name: lowerCamel(m.name), kind: "unary", desc: m }];
      if (m.methodKind === "server_streaming") {
        return [{ name: lowerCamel(m.name), kind: "server_stream_collected", desc: m }];
      }
      return [];
    });
    const allowMethod = selection.allowMethod;
    return { property, desc, methods: allowMethod === undefined ? methods : methods.filter((m) => allowMethod(property, m.name)) };
  });
  return selection.allowMethod === undefined ? selected : selected.filter((s) => s.methods.length > 0);
}
