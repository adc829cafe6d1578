import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { countMapEvents, functionAt, isNewMapPerObject, markerBody, parseMapLogLine, readMapLogWindow } from "../../bench/map-log.js";

// Lines as Node 20's V8 writes them with --log-maps (code ranges come with it); addresses shortened.
const chatCode = "code-creation,JS,13,4700,0x1000,400,chat file:///work/main/server/services/inference-service.ts:1:3124,0x900,*";
const signalCode = "code-creation,JS,10,56790,0x2000,100,createAbortSignal node:internal/abort_controller:348:27,0x950,~";
const anonymousCode = "code-creation,JS,13,4800,0x3000,50, file:///work/main/server/interceptors/observability-interceptor.ts:1:1391,0x990,*";
const perObjectTransition = (pc: string, property: string) => `map,Transition,55692,0x36e4ee76cb61,0x36e4ee77caf9,${pc},1,3124,prototype,${property}`;
const sharedTransition = (property: string) => `map,Transition,52386,0x36e4ee742b21,0x36e4ee77bd69,0x000000000000,-1,-1,,${property}`;
const normalize = "map,NormalizeCached,87919,0x3655dc161971,0x36e4ee769be9,0x3010,580,14,Normalize_AttributesMismatchProtoMap,";

describe("V8 --log-maps lines", () => {
  it("reads a code range with its name, and a map event with its kind, address, reason and property", () => {
    expect(parseMapLogLine(chatCode)).toEqual({
      kind: "code",
      range: { start: 0x1000, size: 400, name: "chat file:///work/main/server/services/inference-service.ts:1:3124,0x900,*" },
    });
    expect(parseMapLogLine(perObjectTransition("0x1010", "message"))).toEqual({
      kind: "map",
      event: { kind: "Transition", pc: 0x1010, reason: "prototype", property: "message" },
    });
    expect(parseMapLogLine(normalize)).toEqual({ kind: "map", event: { kind: "NormalizeCached", pc: 0x3010, reason: "Normalize_AttributesMismatchProtoMap", property: "" } });
    expect(parseMapLogLine("map-details,24731434,0x2fe9f5456ce9,0x2fe9: [Map] in OldSpace")).toBeUndefined();
    expect(parseMapLogLine("code-creation,JS,broken")).toBeUndefined();
  });

  it("counts only a transition without a transition tree as a map of an object's own", () => {
    expect(isNewMapPerObject({ kind: "Transition", pc: 0, reason: "prototype", property: "x" })).toBe(true);
    expect(isNewMapPerObject({ kind: "Transition", pc: 0, reason: "", property: "x" })).toBe(false);
    expect(isNewMapPerObject({ kind: "NormalizeCached", pc: 0, reason: "Normalize_AttributesMismatchProtoMap", property: "" })).toBe(false);
  });
});

describe("a window of the log", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function logFile(lines: readonly string[]): string {
    const dir = mkdtempSync(join(tmpdir(), "protogate-map-log-"));
    dirs.push(dir);
    const file = join(dir, "v8.log");
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  }

  it("holds the events between the two markers, named by the code that made them", async () => {
    const file = logFile([
      chatCode,
      signalCode,
      perObjectTransition("0x1010", "before"),
      sharedTransition("windowStart"),
      perObjectTransition("0x1010", "message"),
      perObjectTransition("0x2040", 'symbol("kAborted" hash 1fa0d56a)'),
      anonymousCode,
      normalize,
      perObjectTransition("0x1010", "message"),
      sharedTransition("windowEnd"),
      perObjectTransition("0x1010", "after"),
    ]);
    const window = await readMapLogWindow(file, "windowStart", "windowEnd");
    expect(window.events.map((event) => event.property)).toEqual(["message", 'symbol("kAborted" hash 1fa0d56a)', "", "message"]);
    expect(functionAt(window, 0x1010)).toBe("chat server/services/inference-service.ts");
    expect(functionAt(window, 0x2040)).toBe("createAbortSignal node:internal/abort_controller:348:27");
    expect(functionAt(window, 0x3010)).toBe("(anonymous) server/interceptors/observability-interceptor.ts");
    expect(functionAt(window, 0x5000)).toBe("?");
    expect(countMapEvents(window)).toEqual({
      byKind: [
        ["Transition (no transition tree)", 3],
        ["NormalizeCached", 1],
      ],
      bySite: [
        ["Transition (no transition tree) | message | chat server/services/inference-service.ts", 2],
        ['Transition (no transition tree) | symbol("kAborted" hash 1fa0d56a) | createAbortSignal node:internal/abort_controller:348:27', 1],
        ["NormalizeCached | — | (anonymous) server/interceptors/observability-interceptor.ts", 1],
      ],
    });
  });

  it("refuses a log without both markers, rather than count the wrong window", async () => {
    await expect(readMapLogWindow(logFile([sharedTransition("windowStart"), normalize]), "windowStart", "windowEnd")).rejects.toThrow(/no end marker/);
    await expect(readMapLogWindow(logFile([normalize]), "windowStart", "windowEnd")).rejects.toThrow(/no start marker/);
  });

  it("marks with a request body whose one key is the marker", () => {
    expect(JSON.parse(markerBody("windowStart"))).toEqual({ windowStart: 1 });
  });
});
