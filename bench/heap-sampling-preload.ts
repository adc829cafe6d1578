/**
 * Loaded into a server process by bench/promoted-allocations.ts (`node
 * --import tsx --import ./bench/heap-sampling-preload.ts …`): starts and
 * stops V8's sampling heap profiler when the parent asks over the IPC
 * channel, keeping only objects that outlived the young generation.
 *
 * `includeObjectsCollectedByMajorGC: true` with
 * `includeObjectsCollectedByMinorGC: false` keeps a sample unless a
 * scavenge freed it: what remains is what was promoted to the old
 * generation (or is still alive when sampling stops), with the stack that
 * allocated it.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

/** What the parent sends. */
type Command = { readonly kind: "start"; readonly intervalBytes: number } | { readonly kind: "stop"; readonly out: string };

const session = new Session();
session.connect();

function post(method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    session.post(method, params, (error, result) => (error === null ? resolve(result) : reject(error)));
  });
}

async function handle(command: Command): Promise<void> {
  if (command.kind === "start") {
    await post("HeapProfiler.enable");
    await post("HeapProfiler.startSampling", {
      samplingInterval: command.intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
    });
    process.send?.({ kind: "started" });
  } else {
    const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: unknown };
    writeFileSync(command.out, JSON.stringify(profile));
    process.send?.({ kind: "stopped" });
  }
}

process.on("message", (command: Command) => {
  handle(command).catch((error: unknown) => process.send?.({ kind: "failed", message: String(error) }));
});
// The channel must not keep the server alive on its own.
process.channel?.unref();
