/**
 * The protoc plugin that writes the sandbox SDK (`gateway.d.ts`), its
 * docs index (`docs-index.json`) and the commented descriptors it was made
 * from (`descriptors.json`, see descriptor-bundle.ts): a thin wrapper over
 * {@link generateSandboxSurface}. Kept out of `index.ts` because
 * `@bufbuild/protoplugin` loads the TypeScript compiler when imported.
 *
 * Options (repeatable): `include=<service>` exposes exactly the named
 * services, `exclude=<service>` leaves one out, `name=<service>:<property>`
 * names its property on `gateway`. Needs `target=ts` and `strategy: all`
 * (one SDK for all input files).
 */
import { createEcmaScriptPlugin } from "@bufbuild/protoplugin";
import { createDescriptorBundle } from "./descriptor-bundle.js";
import { generateSandboxSurface } from "./generate-surface.js";
import type { ServiceSelection } from "./select-services.js";

/** The plugin's own options, parsed from `include=`, `exclude=` and `name=`. */
export interface SandboxPluginOptions {
  readonly selection: ServiceSelection;
}

/** Parses the plugin's own options; throws on an unknown or malformed one. */
export function parseSandboxPluginOptions(raw: readonly { key: string; value: string }[]): SandboxPluginOptions {
  const include: string[] = [];
  const exclude: string[] = [];
  const names: Record<string, string> = {};
  for (const { key, value } of raw) {
    switch (key) {
      case "include":
        include.push(value);
        break;
      case "exclude":
        exclude.push(value);
        break;
      case "name": {
        const i = value.lastIndexOf(":");
        if (i <= 0 || i === value.length - 1) {
          throw new Error(`name=${value}: expected name=<fully.qualified.Service>:<property>`);
        }
        names[value.slice(0, i)] = value.slice(i + 1);
        break;
      }
      default:
        throw new Error(`unknown option ${key}`);
    }
  }
  return { selection: { ...(include.length > 0 ? { include } : {}), exclude, names } };
}

/** The plugin, ready for `runNodeJs`. */
export const sandboxPlugin = createEcmaScriptPlugin<SandboxPluginOptions>({
  name: "protoc-gen-sandbox",
  version: "v1",
  parseOptions: parseSandboxPluginOptions,
  generateTs(schema) {
    if (schema.targets.length !== 1 || schema.targets[0] !== "ts") {
      throw new Error("protoc-gen-sandbox writes declarations and JSON, not code: set the option target=ts");
    }
    const surface = generateSandboxSurface(schema.files, {
      ...schema.options.selection,
      generatedBy: "protoc-gen-sandbox",
    });
    schema.generateFile("gateway.d.ts").print(surface.declarations.trimEnd());
    schema.generateFile("docs-index.json").print(JSON.stringify(surface.docs, null, 2));
    // The same input with its comments, for servers that add services at start-up.
    const bundle = createDescriptorBundle(
      surface.services.map((s) => s.desc.file),
      schema.options.selection,
    );
    schema.generateFile("descriptors.json").print(JSON.stringify(bundle, null, 2));
  },
});
