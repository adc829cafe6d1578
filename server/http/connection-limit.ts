import { readFileSync } from "node:fs";

/** Client connections allowed when the process's open-file limit cannot be read. */
const fallbackMaxConnections = 4096;

/**
 * How many client connections the gateway keeps open at once unless
 * configured: three quarters of the process's open-file limit (the soft
 * `RLIMIT_NOFILE`, read from /proc/self/limits), at least 64.
 *
 * Why: every connection is a file descriptor, and so is every upstream
 * socket, log file and sandbox pipe. Without a limit, a client holding
 * 1 000 idle connections (an HTTP/2 connection may idle for 5 minutes)
 * uses up a default limit of 1 024, after which the gateway can no longer
 * reach its backends, and every client fails — not only the one that
 * caused it. With it, connections over the limit are closed on arrival
 * and counted (`protogate_connections_dropped_total`); the ones already
 * open, and the backends, keep working.
 *
 * @example
 * net.maxConnections = defaultMaxConnections(); // 768 under `ulimit -n 1024`
 */
export function defaultMaxConnections(limitsText: () => string = () => readFileSync("/proc/self/limits", "utf8")): number {
  let text: string;
  try {
    text = limitsText();
  } catch {
    return fallbackMaxConnections;
  }
  // "Max open files            1024                 1048576              files"
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  if (soft === undefined || soft === "unlimited") return fallbackMaxConnections;
  return Math.max(64, Math.floor(Number(soft) * 0.75));
}
