/** Structured fields of one log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The gateway's log: one JSON object per line. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Creates a logger that writes JSON lines (`time`, `level`, `msg`, fields)
 * to a stream, stderr by default, so stdout stays free for command output.
 * Errors in fields are written as their message and code, never a stack
 * trace of upstream bodies unless the field says so.
 *
 * @example
 * const log = createLogger();
 * log.info("listening", { url });
 */
export function createLogger(options: { readonly write?: (line: string) => void } = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: string, message: string, fields: LogFields = {}) => {
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
    for (const [key, value] of Object.entries(fields)) {
      entry[key] = value instanceof Error ? { name: value.name, message: value.message } : value;
    }
    write(`${JSON.stringify(entry, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value))}\n`);
  };
  return {
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
  };
}

/** A logger that drops everything (tests, embedded use). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
