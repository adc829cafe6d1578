/**
 * Generates the sandbox SDK from Protobuf descriptors: the TypeScript
 * declarations the model's code is checked against (a global `gateway`
 * whose methods take and return proto-JSON objects), their docs index, and
 * the mapping from `gateway.<service>.<method>` to RPCs. The protoc plugin
 * in `protoc-gen-sandbox.ts` writes the same output to gen/sandbox/ at build
 * time; this entry does it at run time (for services loaded at start-up).
 */
export type { SandboxSurface, SandboxSurfaceOptions } from "./generate-surface.js";
export { generateSandboxSurface, sandboxJsonWriteOptions } from "./generate-surface.js";
export type { DescriptorBundle, LoadedDescriptorBundle } from "./descriptor-bundle.js";
export { createDescriptorBundle, createDescriptorRegistry, readDescriptorBundle } from "./descriptor-bundle.js";
export type {
  SandboxCallKind,
  SandboxMethod,
  SandboxService,
  ServiceSelection,
} from "./select-services.js";
export { defaultExcludedServices, defaultServiceProperty, selectServices } from "./select-services.js";
export { printValidateProto } from "./validate-proto-source.js";
