/**
 * Operator services: Connect or gRPC services the operator runs, loaded at
 * start-up from a Buf image or a proto directory so that sandbox code can
 * call them, typed and documented, through the gateway.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type DescFile, type DescService, fromBinary, fromJsonString } from "@bufbuild/protobuf";
import { type FileDescriptorSet, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createDescriptorRegistry, defaultExcludedServices, defaultServiceProperty, printValidateProto } from "../../sandbox/codegen/index.js";
import { ConfigError } from "../config/config-file.js";
import type { OperatorServiceSettings } from "../config/sandbox-settings.js";

const run = promisify(execFile);

/** An operator service, loaded and ready to be called. */
export interface OperatorService {
  /** For logs and errors. */
  readonly name: string;
  readonly upstreamUrl: string;
  /** Every file of its descriptors (the SDK generator picks what it needs). */
  readonly files: readonly DescFile[];
  /** The services to expose. */
  readonly services: readonly DescService[];
  /** Property names on `gateway` by fully-qualified service name, where configured. */
  readonly properties: Readonly<Record<string, string>>;
  /** Calls the upstream. */
  readonly transport: Transport;
  /** Time limit of one call. */
  readonly timeoutMs: number;
}

/** Options of {@link loadOperatorServices}. */
export interface LoadOperatorServicesOptions {
  /** The `buf` CLI script to build proto directories with (default: the bundled `@bufbuild/buf`). */
  readonly bufScript?: string;
  /** Longest a `buf build` may take (default 60 s). */
  readonly buildTimeoutMs?: number;
}

/**
 * Loads every configured operator service: reads its image or builds its
 * proto directory, picks its services and creates the transport to its
 * upstream. Throws a ConfigError naming the service and the problem (a
 * missing file, a compile error, an unknown service name), so a bad config
 * stops the gateway at start-up.
 *
 * @example
 * const operators = await loadOperatorServices(settings.operatorServices);
 */
export async function loadOperatorServices(
  settings: readonly OperatorServiceSettings[],
  options: LoadOperatorServicesOptions = {},
): Promise<OperatorService[]> {
  const loaded: OperatorService[] = [];
  for (const [index, service] of settings.entries()) {
    const where = `operatorServices[${index}]${service.name === "" ? "" : ` (${service.name})`}`;
    const set = service.source.kind === "image" ? readImage(service.source.path, where) : await buildProtoDir(service.source.path, where, options);
    let registry: ReturnType<typeof createDescriptorRegistry>;
    try {
      registry = createDescriptorRegistry(set);
    } catch (error) {
      throw new ConfigError(`${where}: the descriptors are incomplete: ${(error as Error).message}`);
    }
    const files = [...registry.files];
    const all = files.flatMap((file) => file.services);
    const byName = new Map(all.map((desc) => [desc.typeName, desc]));
    const services =
      service.services.length > 0
        ? service.services.map((name) => {
            const desc = byName.get(name);
            if (desc === undefined) {
              throw new ConfigError(`${where}.services: ${name} is not in the descriptors; they define ${[...byName.keys()].join(", ") || "no service"}`);
            }
            return desc;
          })
        : all.filter((desc) => !defaultExcludedServices.includes(desc.typeName) && !desc.typeName.startsWith("google."));
    if (services.length === 0) throw new ConfigError(`${where}: the descriptors define no service to expose`);
    for (const name of Object.keys(service.properties)) {
      if (!services.some((desc) => desc.typeName === name)) throw new ConfigError(`${where}.properties: ${name} is not one of its exposed services`);
    }
    const first = services[0] as DescService;
    const firstProperty = service.properties[first.typeName] ?? defaultServiceProperty(first);
    loaded.push({
      name: service.name === "" ? firstProperty : service.name,
      upstreamUrl: service.upstreamUrl,
      files,
      services,
      properties: service.properties,
      transport: createUpstreamTransport(service),
      timeoutMs: service.timeoutMs,
    });
  }
  return loaded;
}

function readImage(path: string, where: string): FileDescriptorSet {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${where}.image: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    // A Buf image is a FileDescriptorSet with extra fields; JSON images are read leniently for the same reason.
    return path.endsWith(".json")
      ? fromJsonString(FileDescriptorSetSchema, bytes.toString("utf8"), { ignoreUnknownFields: true })
      : fromBinary(FileDescriptorSetSchema, bytes);
  } catch (error) {
    throw new ConfigError(`${where}.image: ${path} is not a Buf image or FileDescriptorSet (${(error as Error).message})`);
  }
}

/** The `buf` CLI that ships with the `@bufbuild/buf` package (a Node script). */
function bundledBufScript(): string {
  return createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf");
}

/**
 * Builds a proto directory with `buf build -o -`. A directory with its own
 * buf.yaml is built as it is; otherwise it is copied into a temporary
 * workspace next to protovalidate's `buf/validate/validate.proto`, so rules
 * compile without the Buf Schema Registry.
 */
async function buildProtoDir(dir: string, where: string, options: LoadOperatorServicesOptions): Promise<FileDescriptorSet> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`${where}.protoDir: ${dir} is not a directory`);
  let bufScript: string;
  try {
    bufScript = options.bufScript ?? bundledBufScript();
  } catch {
    throw new ConfigError(`${where}.protoDir: building protos needs the buf CLI (npm package @bufbuild/buf); or give an image built with \`buf build -o\``);
  }
  const ownWorkspace = existsSync(join(dir, "buf.yaml")) || existsSync(join(dir, "buf.work.yaml"));
  const scratch = ownWorkspace ? undefined : mkdtempSync(join(tmpdir(), "protogate-operator-"));
  try {
    let cwd = dir;
    if (scratch !== undefined) {
      cpSync(dir, join(scratch, "src"), { recursive: true, filter: (source) => statSync(source).isDirectory() || source.endsWith(".proto") });
      const modules = ["src"];
      if (!existsSync(join(scratch, "src", "buf", "validate", "validate.proto"))) {
        mkdirSync(join(scratch, "deps", "buf", "validate"), { recursive: true });
        writeFileSync(join(scratch, "deps", "buf", "validate", "validate.proto"), printValidateProto());
        modules.push("deps");
      }
      writeFileSync(join(scratch, "buf.yaml"), `version: v2\nmodules:\n${modules.map((m) => `  - path: ${m}\n`).join("")}`);
      cwd = scratch;
    }
    const { stdout } = await run(process.execPath, [bufScript, "build", "-o", "-#format=binpb"], {
      cwd,
      encoding: "buffer",
      maxBuffer: 256 * 1024 * 1024,
      timeout: options.buildTimeoutMs ?? 60_000,
    });
    return fromBinary(FileDescriptorSetSchema, stdout);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const stderr = (error as { stderr?: Buffer }).stderr?.toString("utf8").trim();
    throw new ConfigError(`${where}.protoDir: buf build failed for ${dir}${stderr ? `:\n${stderr.replaceAll(scratch ?? "\0", "")}` : ` (${(error as Error).message})`}`);
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}

function createUpstreamTransport(service: OperatorServiceSettings): Transport {
  const apiKey = service.apiKey;
  const interceptors: Interceptor[] =
    apiKey === undefined
      ? []
      : [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${apiKey}`);
            return next(request);
          },
        ];
  switch (service.protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl: service.upstreamUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: service.upstreamUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors });
    case "connect":
      return createConnectTransport({ baseUrl: service.upstreamUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors });
  }
}
