import { type ChildProcess, execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root, the working directory of every spawned process. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** How a finished process ended and what it printed. */
export interface ProcessResult {
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options shared by runProcess and startProcess. */
export interface ProcessOptions {
  /** Killed with SIGTERM after this long (the test then sees signal SIGTERM). */
  readonly timeoutMs: number;
  /** Extra environment variables (the test's own environment is inherited). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs a command to completion with `execFile` and a hard timeout. Never
 * rejects on a non-zero exit: the result carries the code and both outputs,
 * so a test can assert on a failing command's message.
 *
 * @example
 * const result = await runProcess("curl", ["-sS", `${gateway.url}/healthz`], { timeoutMs: 10_000 });
 */
export function runProcess(file: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  return startProcess(file, args, options).exited;
}

/** A process that is still running, with its output so far. */
export interface RunningProcess {
  readonly child: ChildProcess;
  /**
   * Resolves with the first match of `pattern` in stdout so far (use the
   * `m` flag to match a whole line); rejects if the process exits first.
   */
  waitForStdout(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessResult>;
}

/**
 * Starts a long-running command (e.g. `protogate serve`) with `execFile`
 * and a hard timeout, and lets the test wait for its output instead of
 * sleeping.
 *
 * @example
 * const serve = startProcess(process.execPath, ["bin/protogate.js", "serve", "--port", "0"], { timeoutMs: 20_000 });
 * const [, url] = await serve.waitForStdout(/^protogate listening on (\S+)/m);
 * serve.child.kill("SIGTERM");
 * expect((await serve.exited).code).toBe(0);
 */
export function startProcess(file: string, args: readonly string[], options: ProcessOptions): RunningProcess {
  let stdout = "";
  let stderr = "";
  const outputWaiters = new Set<() => void>();
  let resolveExit: (result: ProcessResult) => void = () => undefined;
  const exited = new Promise<ProcessResult>((resolve) => (resolveExit = resolve));
  const child = execFile(
    file,
    [...args],
    { cwd: repoRoot, timeout: options.timeoutMs, env: { ...process.env, ...options.env }, maxBuffer: 16 * 1024 * 1024 },
    () => resolveExit({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
  );
  // execFile decodes both streams as UTF-8 (its default encoding), so chunks are strings.
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
    for (const wake of outputWaiters) wake();
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  return {
    child,
    exited,
    waitForStdout(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (match === null) return;
          outputWaiters.delete(check);
          resolve(match);
        };
        outputWaiters.add(check);
        check();
        exited.then((result) => {
          if (!outputWaiters.has(check)) return;
          outputWaiters.delete(check);
          reject(new Error(`process exited (code ${result.code}, signal ${result.signal}) before printing ${pattern}:\n${result.stdout}\n${result.stderr}`));
        }, reject);
      });
    },
  };
}
