/**
 * The sandbox's type-checker: long-lived TypeScript LanguageServices in
 * worker threads, so a check can be cut off. A check that runs past its time
 * limit (a type-level denial of service with recursive types, say) or runs
 * out of memory is answered with a diagnostic, and its worker is replaced.
 * A small pool of workers (two by default, one on a single core) answers
 * concurrent checks in parallel; each costs about 100 MB of memory.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type DocsEntry, type DocsIndex, searchDocs } from "../docs/index.js";
import type { CheckResult, SandboxDiagnostic } from "./check-result.js";
import type { CheckerWorkerData, CheckRequest, WorkerReply } from "./worker-protocol.js";

/** Options of {@link createTypeScriptChecker}. */
export interface TypeScriptCheckerOptions {
  /** The SDK declarations (for example gen/sandbox/gateway.d.ts). */
  readonly declarations: string;
  /** The SDK's docs index, for help texts and {@link TypeScriptChecker.searchDocs}. */
  readonly docs: DocsIndex;
  /** Longest one check may take once the worker is ready; 3000 ms by default. */
  readonly timeoutMs?: number;
  /** Heap limit of the worker; 512 MB by default. */
  readonly memoryLimitMb?: number;
  /** Longest accepted code, in characters; 100,000 by default. */
  readonly maxCodeLength?: number;
  /** Longest wait for a new worker to load TypeScript and warm up; 60 s by default. */
  readonly startupTimeoutMs?: number;
  /**
   * Worker threads, each checking one piece of code at a time; by default
   * {@link defaultCheckerWorkers}. Each holds its own copy of TypeScript,
   * the library and the SDK (about 100 MB).
   */
  readonly workers?: number;
}

/**
 * The default number of checker workers: two on machines with more than
 * two cores, else one. A second worker lets a burst of checks use another
 * core, but each costs about 100 MB — memory a local model needs more —
 * and on two cores, shared with the gateway and the sandbox processes, it
 * made bursts only 7–16 % faster (docs/benchmarks.md). More than two would
 * mostly compete for the CPU.
 */
export function defaultCheckerWorkers(): number {
  return availableParallelism() > 2 ? 2 : 1;
}

/** Type-checks sandbox code against the SDK. */
export interface TypeScriptChecker {
  /**
   * Checks code written as the body of an async function. Resolves to
   * `{ kind: "ok" }` or to diagnostics with help; rejects only when the
   * checker itself is broken or closed. Each worker runs one check at a
   * time; checks that find every worker busy wait and start in order.
   */
  check(code: string): Promise<CheckResult>;
  /** Finds SDK docs entries for a query (a name, a path or a few words), best first. */
  searchDocs(query: string, limit?: number): DocsEntry[];
  /** Stops the worker. Later checks reject. */
  close(): Promise<void>;
}

type Outcome =
  | { kind: "checked"; diagnostics: readonly SandboxDiagnostic[] }
  | { kind: "failed"; message: string }
  | { kind: "timeout" }
  | { kind: "crashed"; reason: string }
  | { kind: "closed" };

interface RunningWorker {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Whether `ready` has resolved: TypeScript is loaded and warm. */
  isReady: boolean;
  settle?: ((outcome: Outcome) => void) | undefined;
}

/** One place in the pool: its worker (started on demand after a crash) and whether a check runs there. */
interface Slot {
  running: RunningWorker | undefined;
  busy: boolean;
}

/** A check waiting for a free slot. */
interface QueuedCheck {
  readonly code: string;
  readonly resolve: (result: CheckResult) => void;
  readonly reject: (error: Error) => void;
}

const selfUrl = import.meta.url;
const fromSource = selfUrl.endsWith(".ts");

/**
 * How to start the worker. From compiled JavaScript it is a plain module.
 * From TypeScript sources (tsx, vitest) it needs a transpiler, and on Node 20
 * tsx's ESM hooks only reach the main thread, so a small CommonJS bootstrap
 * loads `typescript` with plain `require` (through tsx it loads several
 * times slower), then registers tsx's in-thread CommonJS hooks for our own
 * sources and requires the worker module.
 */
function workerEntry(): { entry: string | URL; eval: boolean } {
  if (!fromSource) return { entry: new URL("./checker-worker.js", selfUrl), eval: false };
  const require = createRequire(selfUrl);
  const paths = {
    typescript: require.resolve("typescript"),
    tsx: require.resolve("tsx/cjs/api"),
    worker: fileURLToPath(new URL("./checker-worker.ts", selfUrl)),
  };
  return {
    eval: true,
    entry: [
      `require(${JSON.stringify(paths.typescript)});`,
      `require(${JSON.stringify(paths.tsx)}).register();`,
      `require(${JSON.stringify(paths.worker)});`,
    ].join("\n"),
  };
}

function singleDiagnostic(code: string, message: string, help: string): SandboxDiagnostic[] {
  return [{ line: 1, column: 1, code, message, help }];
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Creates a checker and starts its worker at once, so the first check finds
 * it warm.
 *
 * @example
 * const checker = createTypeScriptChecker({
 *   declarations: readFileSync("gen/sandbox/gateway.d.ts", "utf8"),
 *   docs: JSON.parse(readFileSync("gen/sandbox/docs-index.json", "utf8")),
 * });
 * const result = await checker.check('return await gateway.models.listModels();');
 * if (result.kind === "diagnostics") console.log(result.diagnostics);
 * await checker.close();
 */
export function createTypeScriptChecker(options: TypeScriptCheckerOptions): TypeScriptChecker {
  const timeoutMs = options.timeoutMs ?? 3000;
  const startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
  const workerData: CheckerWorkerData = {
    declarations: options.declarations,
    docs: options.docs,
    maxCodeLength: options.maxCodeLength ?? 100_000,
  };
  let closed = false;
  let nextId = 1;
  const queue: QueuedCheck[] = [];

  const startWorker = (slot: Slot): RunningWorker => {
    const { entry, eval: isEval } = workerEntry();
    const worker = new Worker(entry, {
      eval: isEval,
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryLimitMb ?? 512 },
    });
    // Idle workers do not keep the process alive; a running check's timer does.
    worker.unref();
    let markReady: () => void = () => undefined;
    let markFailed: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    ready.catch(() => undefined);
    const running: RunningWorker = { worker, ready, isReady: false };
    worker.on("message", (reply: WorkerReply) => {
      switch (reply.kind) {
        case "ready":
          running.isReady = true;
          markReady();
          dispatch();
          break;
        case "fatal":
          markFailed(new Error(`sandbox checker could not start: ${reply.message}`));
          break;
        case "checked":
          running.settle?.({ kind: "checked", diagnostics: reply.diagnostics });
          break;
        case "failed":
          running.settle?.({ kind: "failed", message: reply.message });
          break;
      }
    });
    const died = (reason: string) => {
      markFailed(new Error(`sandbox checker worker stopped: ${reason}`));
      running.settle?.({ kind: "crashed", reason });
      // A worker that dies while idle is replaced when the next check comes.
      if (slot.running === running) slot.running = undefined;
    };
    worker.on("error", (error) => died(error.message));
    worker.on("exit", (code) => died(`exit code ${code}`));
    slot.running = running;
    return running;
  };

  const slots: Slot[] = Array.from({ length: Math.max(1, options.workers ?? defaultCheckerWorkers()) }, () => ({ running: undefined, busy: false }));
  // The first worker starts at once, so the first check finds it warm; the
  // others when it is ready (see dispatch), so that loading them (about a
  // second of CPU each) does not slow it down.
  startWorker(slots[0] as Slot);

  const replaceWorker = (slot: Slot, old: RunningWorker) => {
    old.settle = undefined;
    void old.worker.terminate();
    // Start the replacement at once, so it is warm by the next check.
    if (slot.running === old || slot.running === undefined) {
      slot.running = undefined;
      if (!closed) startWorker(slot);
    }
  };

  const runCheck = async (slot: Slot, code: string): Promise<CheckResult> => {
    if (closed) throw new Error("sandbox checker is closed");
    const started = performance.now();
    const running = slot.running ?? startWorker(slot);
    try {
      await withTimeout(running.ready, startupTimeoutMs, "starting the sandbox checker");
    } catch (error) {
      if (slot.running === running) slot.running = undefined;
      void running.worker.terminate();
      throw closed ? new Error("sandbox checker is closed") : error;
    }
    if (closed) throw new Error("sandbox checker is closed");
    const outcome = await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: "timeout" }), timeoutMs);
      running.settle = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
      const request: CheckRequest = { id: nextId++, code };
      running.worker.postMessage(request);
    });
    running.settle = undefined;
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    switch (outcome.kind) {
      case "checked":
        return outcome.diagnostics.length === 0
          ? { kind: "ok", durationMs }
          : { kind: "diagnostics", diagnostics: outcome.diagnostics, durationMs };
      case "timeout":
        replaceWorker(slot, running);
        return {
          kind: "diagnostics",
          durationMs,
          diagnostics: singleDiagnostic(
            "check_timeout",
            `The type check took longer than ${timeoutMs} ms and was stopped.`,
            "Simplify the types in your code: avoid recursive or deeply nested generic and conditional types and very large literal types; annotate values with the SDK's types (ChatRequest, Model, …) instead.",
          ),
        };
      case "crashed":
        replaceWorker(slot, running);
        return {
          kind: "diagnostics",
          durationMs,
          diagnostics: singleDiagnostic(
            "check_failed",
            `The type check stopped (${outcome.reason}), probably out of memory.`,
            "Simplify the types in your code: avoid recursive or very large types and very long literals.",
          ),
        };
      case "failed":
        throw new Error(`sandbox checker failed: ${outcome.message}`);
      case "closed":
        throw new Error("sandbox checker is closed");
    }
  };

  /**
   * Starts queued checks on free slots whose worker is ready. Only while no
   * worker at all is ready (start-up, or every worker replaced) does a check
   * go to a slot whose worker is still starting, and wait for it there.
   */
  function dispatch(): void {
    if (closed) return;
    const anyReady = slots.some((s) => s.running?.isReady === true);
    // A worker that died while idle is replaced now, without a check waiting for it.
    if (anyReady) for (const slot of slots) if (slot.running === undefined && !slot.busy) startWorker(slot);
    while (queue.length > 0) {
      const free = slots.filter((s) => !s.busy);
      const slot = anyReady ? free.find((s) => s.running?.isReady === true) : free[0];
      if (slot === undefined) return;
      const next = queue.shift();
      if (next === undefined) return;
      slot.busy = true;
      runCheck(slot, next.code)
        .then(next.resolve, next.reject)
        .finally(() => {
          slot.busy = false;
          dispatch();
        });
    }
  }

  return {
    check(code) {
      if (closed) return Promise.reject(new Error("sandbox checker is closed"));
      const result = new Promise<CheckResult>((resolve, reject) => {
        queue.push({ code, resolve, reject });
        dispatch();
      });
      // close() rejects checks still in flight; that is no unhandled rejection of ours.
      result.catch(() => undefined);
      return result;
    },
    searchDocs(query, limit = 10) {
      return searchDocs(options.docs, query, limit);
    },
    async close() {
      closed = true;
      for (const waiting of queue.splice(0)) waiting.reject(new Error("sandbox checker is closed"));
      await Promise.all(
        slots.map(async (slot) => {
          const running = slot.running;
          slot.running = undefined;
          if (running === undefined) return;
          running.settle?.({ kind: "closed" });
          running.settle = undefined;
          await running.worker.terminate();
        }),
      );
    },
  };
}
