import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSandboxSurface } from "../../../sandbox/codegen/index.js";
import { ConfigError } from "../../../server/config/config-file.js";
import { loadOperatorServices, type OperatorService } from "../../../server/sandbox/index.js";
import { buildAdHocImage } from "../../sandbox/codegen/build-image.js";
import { weatherOperator, weatherProtoDir } from "../../helpers/weather-operator.js";

const weatherProto = readFileSync(join(weatherProtoDir, "weather", "v1", "weather_service.proto"), "utf8");

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "operator-services-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

async function loadOne(...args: Parameters<typeof weatherOperator>): Promise<OperatorService> {
  const [service] = await loadOperatorServices([weatherOperator(...args)]);
  if (service === undefined) throw new Error("nothing loaded");
  return service;
}

/** The SDK declarations generated for a loaded operator service alone. */
function declarationsOf(service: OperatorService): string {
  return generateSandboxSurface(service.files, { include: service.services.map((s) => s.typeName) }).declarations;
}

describe("loading operator services", () => {
  it("builds a proto directory without buf.yaml, providing protovalidate's rules, with comments kept", async () => {
    const weather = await loadOne();
    expect(weather.name).toBe("weather");
    expect(weather.services.map((s) => s.typeName)).toEqual(["weather.v1.WeatherService"]);
    const declarations = declarationsOf(weather);
    expect(declarations).toContain("Weather forecasts for cities.");
    expect(declarations).toContain("How many days to forecast, today included.");
    expect(declarations).toContain("Rules: required; ≥ 1 and ≤ 7.");
  });

  it("reads a Buf image, also one built without its imports", async () => {
    const image = buildAdHocImage({ "weather/v1/weather_service.proto": weatherProto });
    const full = join(scratch, "full.binpb");
    writeFileSync(full, toBinary(FileDescriptorSetSchema, image.fileSet));
    const alone = join(scratch, "alone.binpb");
    const weatherFile = image.fileSet.file.filter((file) => file.name.startsWith("weather/"));
    writeFileSync(alone, toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: weatherFile })));
    for (const path of [full, alone]) {
      const weather = await loadOne({ name: "", source: { kind: "image", path }, services: [] });
      expect(weather.name).toBe("weather");
      expect(weather.services.map((s) => s.typeName)).toEqual(["weather.v1.WeatherService"]);
      expect(declarationsOf(weather)).toContain("Rules: required; length 2–64 characters.");
    }
  });

  it("builds a directory with its own buf.yaml as it is", async () => {
    const dir = join(scratch, "own-workspace");
    mkdirSync(join(dir, "notes", "v1"), { recursive: true });
    writeFileSync(join(dir, "buf.yaml"), "version: v2\n");
    writeFileSync(
      join(dir, "notes", "v1", "notes.proto"),
      'syntax = "proto3";\npackage notes.v1;\n// Notes.\nservice NoteService {\n  // Adds one.\n  rpc AddNote(AddNoteRequest) returns (AddNoteResponse);\n}\n// Request.\nmessage AddNoteRequest {\n  // Text.\n  string text = 1;\n}\n// Response.\nmessage AddNoteResponse {}\n',
    );
    const notes = await loadOne({ name: "", source: { kind: "proto-dir", path: dir }, services: [] });
    expect(notes.name).toBe("note");
    expect(declarationsOf(notes)).toContain("addNote(request?: AddNoteRequest): Promise<AddNoteResponse>;");
  });

  it.each([
    ["a missing directory", { source: { kind: "proto-dir", path: "/nonexistent/protos" } }, "operatorServices[0] (weather).protoDir: /nonexistent/protos is not a directory"],
    ["a missing image", { source: { kind: "image", path: "/nonexistent/image.binpb" } }, "operatorServices[0] (weather).image: cannot read /nonexistent/image.binpb (ENOENT)"],
    [
      "a service the descriptors do not define",
      { services: ["weather.v1.WeatherServic"] },
      "operatorServices[0] (weather).services: weather.v1.WeatherServic is not in the descriptors; they define weather.v1.WeatherService",
    ],
    [
      "a property for a service that is not exposed",
      { properties: { "weather.v1.Other": "other" } },
      "operatorServices[0] (weather).properties: weather.v1.Other is not one of its exposed services",
    ],
  ] as const)("refuses %s with a ConfigError", async (_what, overrides, message) => {
    await expect(loadOperatorServices([weatherOperator(overrides)])).rejects.toThrow(new ConfigError(message));
  });

  it("reports a compile error with buf's message", async () => {
    const dir = join(scratch, "broken");
    mkdirSync(join(dir, "w"), { recursive: true });
    writeFileSync(join(dir, "w", "broken.proto"), 'syntax = "proto3";\npackage w;\nmessage M { strin name = 1; }\n');
    const error = await loadOperatorServices([weatherOperator({ source: { kind: "proto-dir", path: dir } })]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^operatorServices\[0\] \(weather\)\.protoDir: buf build failed for .*broken:\n.*w\/broken\.proto:3:13:.*strin/s);
  });
});
