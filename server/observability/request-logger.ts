import { Code, ConnectError } from "@connectrpc/connect";
import { hostname } from "node:os";
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";
import { boundText } from "../log/bounded-text.js";
import { codeLabel } from "./labels.js";
import { createLineBatcher } from "./line-batcher.js";
import type { RequestRecord } from "./metrics.js";

/**
 * Paths whose values are replaced by "[Redacted]" on every line of the
 * logger, whatever the caller passes: credentials in headers, configs and
 * errors, one or two levels deep.
 */
export const redactedPaths: readonly string[] = [
  "authorization",
  "*.authorization",
  "*.*.authorization",
  "proxy-authorization",
  "*[\"proxy-authorization\"]",
  "cookie",
  "*.cookie",
  "*.*.cookie",
  "apiKey",
  "*.apiKey",
  "*.*.apiKey",
  "api_key",
  "*.api_key",
  "*.*.api_key",
  "x-api-key",
  "*[\"x-api-key\"]",
  "*.*[\"x-api-key\"]",
];

/** Longest error cause text written to the log, in characters. */
const maxCauseLength = 500;

/** Longest error message written to the log, in characters: messages quote what was wrong, which a client chooses. */
const maxMessageLength = 1024;

/** Longest model name written to the log, in characters (the longest a request may name). */
const maxModelChars = 256;

/**
 * One finished RPC, as `logRequest` takes it: what the metrics record, plus
 * identifiers and counts. Every field is an identifier, a label, a duration
 * or a count.
 */
export interface RequestLogEntry extends RequestRecord {
  readonly requestId: string;
  readonly sessionId?: string | undefined;
  /** W3C trace id, to join the line with traces and upstream logs. */
  readonly traceId?: string | undefined;
  readonly ttftMs?: number | undefined;
  /** Retries made (0 when the first attempt settled it). */
  readonly retries: number;
  /** The backend the request first went to, when it fell back to another. */
  readonly fallbackFrom?: string | undefined;
  /** The failure, when there was one; logged as code, message and a cut cause. */
  readonly error?: unknown;
}

/** Characters of log lines held before they are handed to the writer as one batch. */
export const logBatchChars = 16_384;

/** The longest a held log line waits before it is written, in milliseconds. */
export const logFlushIntervalMs = 100;

let stderrDestination: DestinationStream | undefined;

/**
 * The default destination: stderr, written asynchronously in batches of
 * about `logBatchChars`, and at least every `logFlushIntervalMs`. Shared by
 * every logger of the process, so there is one buffer and one flush timer.
 *
 * Why batches: an asynchronous write is a syscall run on libuv's thread
 * pool plus a completion callback on the event loop. Measured with a
 * paced loop of request lines to stderr, one write per line cost 9–15 µs
 * of CPU per line more than discarding the line. The lines are gathered by
 * createLineBatcher, not by SonicBoom's own `minLength`, whose cost per
 * line grows with the batch (line-batcher.ts). SonicBoom writes each batch
 * as it comes (`minLength` 0): it handles partial writes, `EAGAIN` and the
 * synchronous flush at exit. A crash of the machine itself can lose the
 * last 100 ms of lines.
 */
function sharedStderr(): DestinationStream {
  stderrDestination ??= createLineBatcher(pino.destination({ dest: 2, sync: false, minLength: 0 }), {
    batchChars: logBatchChars,
    flushIntervalMs: logFlushIntervalMs,
  });
  return stderrDestination;
}

/** Options of createRequestLogger. */
export interface RequestLoggerOptions {
  /**
   * Where lines go (default: stderr, so stdout stays free for command
   * output, written asynchronously in batches: see `logFlushIntervalMs`).
   */
  readonly destination?: DestinationStream;
  /** The lowest level written (default "info"). */
  readonly level?: LevelWithSilent;
  /** A wall clock in ms since the epoch for the `time` field (default: pino's ISO time from Date.now). */
  readonly now?: () => number;
}

/** Writes one structured line per finished RPC, plus a pino logger for other lines. */
export interface RequestLogger {
  /** The underlying pino logger, with the same redaction; use it (or `.child()`) for other lines. */
  readonly logger: Logger;
  /**
   * Writes the line of one RPC with `msg: "request"`: level info when it
   * succeeded or the client canceled, error for server-side failures
   * (internal, unknown, data_loss, unavailable, deadline_exceeded), warn
   * otherwise (the client's own mistakes and limits).
   */
  logRequest(entry: RequestLogEntry): void;
}

const serverSideCodes: ReadonlySet<Code> = new Set([Code.Internal, Code.Unknown, Code.DataLoss, Code.Unavailable, Code.DeadlineExceeded]);

/**
 * Creates the request logger.
 *
 * Prompts and completions are never logged: `logRequest` copies only the
 * named fields of RequestLogEntry (extra properties are dropped at run
 * time too), and none of them holds message content. An error is written
 * as its code, its client-safe message (cut to 1 024 characters: messages
 * quote what was wrong), and the first 500 characters of its cause — for
 * backend errors that is the upstream error body, which a
 * backend could in principle make echo input; keep that in mind when
 * shipping logs elsewhere. Credentials are redacted with pino's `redact`
 * (see `redactedPaths`) on every line, including lines of `logger`.
 *
 * @example
 * const { logger, logRequest } = createRequestLogger({ level: "info" });
 * logRequest({ requestId, service: "protogate.v1.InferenceService", method: "Chat", model: "qwen",
 *   backend: "llama", code: "ok", durationMs: 812, upstreamMs: 809, retries: 0 });
 */
export function createRequestLogger(options: RequestLoggerOptions = {}): RequestLogger {
  const now = options.now;
  const destination = options.destination ?? sharedStderr();
  const timeOf = now === undefined ? isoTimeNow : () => new Date(now()).toISOString();
  const logger = pino(
    {
      level: options.level ?? "info",
      formatters: { level: (label: string) => ({ level: label }) },
      timestamp: () => `,"time":"${timeOf()}"`,
      redact: { paths: [...redactedPaths], censor: "[Redacted]" },
    },
    destination,
  );
  // Request lines are written here, in the format pino writes (level, time, pid, hostname, the fields, msg), without
  // going through pino: they hold named identifier, label and number fields only, so they cannot carry a credential
  // and need no redaction walk, and rendering them directly costs a third of pino's generic path
  // (test/server/observability/request-logger.test.ts checks the bytes against pino's).
  const base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;

  return {
    logger,
    logRequest(entry) {
      const level = entry.code === "ok" || entry.code === Code.Canceled ? "info" : serverSideCodes.has(entry.code) ? "error" : "warn";
      if (!logger.isLevelEnabled(level)) return;
      let line = `{"level":"${level}","time":"${timeOf()}"${base},"request_id":${JSON.stringify(entry.requestId)},"service":${JSON.stringify(entry.service)},"method":${JSON.stringify(entry.method)},"code":"${codeLabel(entry.code)}","duration_ms":${round(entry.durationMs)},"retries":${entry.retries}`;
      if (entry.sessionId !== undefined) line += `,"session_id":${JSON.stringify(entry.sessionId)}`;
      if (entry.traceId !== undefined) line += `,"trace_id":${JSON.stringify(entry.traceId)}`;
      // The requested model is the client's text, checked against its 256-character rule only after this is known.
      if (entry.model !== undefined) line += `,"model":${JSON.stringify(boundText(entry.model, maxModelChars))}`;
      if (entry.backend !== undefined) line += `,"backend":${JSON.stringify(entry.backend)}`;
      if (entry.upstreamMs !== undefined) line += `,"upstream_ms":${round(entry.upstreamMs)}`;
      if (entry.ttftMs !== undefined) line += `,"ttft_ms":${round(entry.ttftMs)}`;
      if (entry.tokensIn !== undefined) line += `,"tokens_in":${entry.tokensIn}`;
      if (entry.tokensOut !== undefined) line += `,"tokens_out":${entry.tokensOut}`;
      if (entry.fallbackFrom !== undefined) line += `,"fallback_from":${JSON.stringify(entry.fallbackFrom)}`;
      if (entry.error !== undefined) line += `,"error":${JSON.stringify(describeError(entry.error))}`;
      destination.write(flattened(`${line},"msg":"request"}\n`));
    },
  };
}

/**
 * The same text as one flat string. A line built by concatenation is a
 * rope of some twenty pieces in V8, and the log destination appends it to
 * its batch as it is; kept so until the batch is written, every piece
 * outlived a scavenge: 5.5 KB promoted to the old generation per request,
 * against 0.3 KB with the line flattened (bench/gc-pressure.ts, at
 * concurrency 1). Converting a string to a number makes V8 flatten it
 * first; a log line is never a number, so the conversion stops at its
 * first character.
 */
function flattened(text: string): string {
  Number(text);
  return text;
}

/** The current time as ISO 8601, formatted once per millisecond however many lines share it. */
let lastIsoMillis = Number.NaN;
let lastIsoTime = "";
function isoTimeNow(): string {
  const millis = Date.now();
  if (millis !== lastIsoMillis) {
    lastIsoMillis = millis;
    lastIsoTime = new Date(millis).toISOString();
  }
  return lastIsoTime;
}

/** An error as log fields: code, client-safe message, cut cause. Never a stack trace. */
function describeError(error: unknown): Record<string, string> {
  const connectError = ConnectError.from(error);
  const fields: Record<string, string> = { code: codeLabel(connectError.code), message: boundText(connectError.rawMessage, maxMessageLength) };
  const cause: unknown = connectError.cause;
  if (cause !== undefined && cause !== error) {
    const text = cause instanceof Error ? cause.message : typeof cause === "string" ? cause : undefined;
    if (text !== undefined && text !== "") fields.cause = boundText(text, maxCauseLength);
  }
  return fields;
}

/** Milliseconds to three decimals: enough precision, shorter lines. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
