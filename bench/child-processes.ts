/**
 * Child processes for benchmarks: every server under test runs in its own
 * process, and every process started here is killed when the benchmark
 * ends, fails or is interrupted.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/** A server process started for a benchmark. */
export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  /** The Node child process, for IPC (`send`, `"message"`) when started with `ipc: true`. */
  readonly process: ChildProcess;
  /** The last lines it wrote to stdout and stderr, for error messages. */
  recentOutput(): string;
  /** Resolves with the first stdout/stderr line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Calls `listener` with every later stdout/stderr line; returns the function that stops it. */
  onLine(listener: (line: string) => void): () => void;
  /** CPU time (user + system) the process has used so far, in microseconds; undefined off Linux. */
  cpuMicros(): number | undefined;
  /** The same, split into the main thread and all other threads (V8's GC and compiler helpers, libuv's pool, workers). */
  cpuMicrosByThread(): { readonly mainThread: number; readonly otherThreads: number } | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHooksInstalled = false;

/** Kills whatever is still running when this process exits, however it exits. */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const child of running) child.kill("SIGKILL");
      process.exit(130);
    });
  }
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (the unit of /proc/PID/stat CPU times). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process from /proc, in microseconds. */
function processCpuMicros(pid: number): number | undefined {
  return statCpuMicros(`/proc/${pid}/stat`);
}

/** utime + stime of the process's main thread and of its other threads, from /proc/PID/task, in microseconds. */
function threadCpuMicros(pid: number): { mainThread: number; otherThreads: number } | undefined {
  try {
    let mainThread = 0;
    let otherThreads = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const micros = statCpuMicros(`/proc/${pid}/task/${task}/stat`) ?? 0;
      if (task === String(pid)) mainThread += micros;
      else otherThreads += micros;
    }
    return { mainThread, otherThreads };
  } catch {
    return undefined;
  }
}

/** utime + stime from a /proc `stat` file, in microseconds. */
function statCpuMicros(path: string): number | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    // The command name (field 2) may contain spaces; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15: utime, stime
    return Number.isFinite(ticks) ? (ticks * 1_000_000) / ticksPerSecond() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `command args…` with piped output (kept as a short tail, never
 * left to fill a pipe) and registers it for cleanup. With `ipc`, the child
 * also gets an IPC channel, as `fork` would give it.
 *
 * @example
 * const child = startChild("upstream", process.execPath, ["--import", "tsx", "bench/fixed-upstream.ts"], { cwd });
 * const [, url] = await child.waitForLine(/listening on (\S+)/, 10_000);
 * await child.stop();
 */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly ipc?: boolean },
): BenchChild {
  installExitHooks();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: options.ipc === true ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running.delete(child);
      resolve();
    });
    child.once("error", () => {
      running.delete(child);
      resolve();
    });
  });

  const tail: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  const onText = (buffered: { text: string }) => (chunk: Buffer) => {
    buffered.text += chunk.toString("utf8");
    const lines = buffered.text.split("\n");
    buffered.text = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      for (const waiter of lineWaiters) waiter(line);
    }
  };
  child.stdout?.on("data", onText({ text: "" }));
  child.stderr?.on("data", onText({ text: "" }));

  return {
    name,
    pid,
    process: child,
    recentOutput: () => tail.join("\n"),
    waitForLine(pattern, timeoutMs) {
      const seen = tail.map((line) => line.match(pattern)).find((match) => match !== null);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const finish = (error: Error | undefined, match?: RegExpMatchArray) => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
          child.off("exit", onExit);
          if (match) resolve(match);
          else reject(error);
        };
        const onLine = (line: string) => {
          const match = line.match(pattern);
          if (match) finish(undefined, match);
        };
        const onExit = (code: number | null) =>
          finish(new Error(`${name} exited (code ${String(code)}) before printing ${String(pattern)}:\n${tail.join("\n")}`));
        const timer = setTimeout(
          () => finish(new Error(`${name} did not print ${String(pattern)} within ${timeoutMs} ms:\n${tail.join("\n")}`)),
          timeoutMs,
        );
        lineWaiters.add(onLine);
        child.once("exit", onExit);
      });
    },
    onLine(listener) {
      lineWaiters.add(listener);
      return () => lineWaiters.delete(listener);
    },
    cpuMicros: () => processCpuMicros(pid),
    cpuMicrosByThread: () => threadCpuMicros(pid),
    async stop(graceMs = 5000) {
      if (!running.has(child)) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Stops every child still running (SIGTERM, then SIGKILL). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
}

/**
 * Runs a benchmark script's `main`, stops every child process it started
 * however it ends, and exits: 0, or 1 after printing the error.
 *
 * @example
 * runBenchScript(main);
 */
export function runBenchScript(main: () => Promise<void>): void {
  main()
    .finally(stopAllChildren)
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
}
