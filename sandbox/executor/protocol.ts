/**
 * The IPC messages between the executor (parent) and a sandbox process
 * (child). Only strings, numbers and plain records cross; each side parses
 * what it receives and drops anything malformed, so a compromised child
 * cannot make the parent act on garbage.
 */
import { defaultExecutionLimits, type ExecutionLimits, type LogLevel } from "./types.js";

/** Limits the child enforces itself (the parent keeps its own backstops): all of an execution's. */
export type ChildLimits = ExecutionLimits;

/** The answer to one SDK call as the guest receives it. */
export type WireReply = readonly ["ok", string] | readonly ["error", string, string];

/** Parent → child. */
export type ParentMessage =
  | {
      readonly t: "run";
      readonly id: number;
      readonly js: string;
      readonly services: Readonly<Record<string, readonly string[]>>;
      readonly limits: ChildLimits;
    }
  | { readonly t: "sdk-result"; readonly id: number; readonly callId: number; readonly reply: WireReply }
  | { readonly t: "cancel"; readonly id: number };

/** How a run ended inside the child. */
export type ChildOutcome =
  | { readonly kind: "ok"; readonly returnJson: string }
  | { readonly kind: "error"; readonly name: string; readonly message: string; readonly stack: string }
  | {
      readonly kind: "limit";
      readonly limit: "wall-time" | "memory" | "output" | "sdk-calls" | "concurrent-sdk-calls";
      readonly message: string;
    }
  | { readonly kind: "canceled" }
  | { readonly kind: "internal"; readonly message: string };

/** Child → parent. */
export type ChildMessage =
  | { readonly t: "ready" }
  | { readonly t: "log"; readonly id: number; readonly level: LogLevel; readonly text: string }
  | { readonly t: "logs-dropped"; readonly id: number }
  | {
      readonly t: "sdk-call";
      readonly id: number;
      readonly callId: number;
      readonly service: string;
      readonly method: string;
      readonly requestJson: string;
    }
  | { readonly t: "done"; readonly id: number; readonly outcome: ChildOutcome };

const logLevels: ReadonlySet<string> = new Set<LogLevel>(["log", "info", "warn", "error", "debug"]);
const childLimitKinds: ReadonlySet<string> = new Set([
  "wall-time",
  "memory",
  "output",
  "sdk-calls",
  "concurrent-sdk-calls",
]);

/** The file name agent code runs under inside the isolate; the parent maps stacks from it. */
export const agentScriptFilename = "agent.js";

/** Longest service or method name that crosses the boundary. */
const maxNameLength = 128;
/** Largest SDK request JSON the guest may send. */
export const maxRequestJsonBytes = 1024 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether a value is an execution or call id: a positive safe integer. */
export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/** Whether a value is a service or method name that may cross the boundary. */
export function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= maxNameLength;
}

function str(value: unknown): value is string {
  return typeof value === "string";
}

/** The outcome of a returned value larger than `maxOutputBytes` as JSON (each side checks the size). */
export function outputLimitOutcome(maxOutputBytes: number): Extract<ChildOutcome, { kind: "limit" }> {
  return {
    kind: "limit",
    limit: "output",
    message: `the returned value is larger than ${maxOutputBytes} bytes as JSON`,
  };
}

/** The level if it is one of the console methods. */
export function parseLogLevel(value: unknown): LogLevel | undefined {
  return typeof value === "string" && logLevels.has(value) ? (value as LogLevel) : undefined;
}

function parseOutcome(value: unknown): ChildOutcome | undefined {
  if (!isRecord(value)) return undefined;
  switch (value["kind"]) {
    case "ok":
      return str(value["returnJson"]) ? { kind: "ok", returnJson: value["returnJson"] } : undefined;
    case "error": {
      const { name, message, stack } = value;
      return str(name) && str(message) && str(stack) ? { kind: "error", name, message, stack } : undefined;
    }
    case "limit": {
      const { limit, message } = value;
      if (!str(limit) || !childLimitKinds.has(limit) || !str(message)) return undefined;
      return { kind: "limit", limit: limit as "wall-time", message };
    }
    case "canceled":
      return { kind: "canceled" };
    case "internal":
      return str(value["message"]) ? { kind: "internal", message: value["message"] } : undefined;
    default:
      return undefined;
  }
}

/** Parses a message from a child; undefined when it is not one of ours. */
export function parseChildMessage(value: unknown): ChildMessage | undefined {
  if (!isRecord(value)) return undefined;
  switch (value["t"]) {
    case "ready":
      return { t: "ready" };
    case "log": {
      const level = parseLogLevel(value["level"]);
      const { id, text } = value;
      return isId(id) && level !== undefined && str(text) ? { t: "log", id, level, text } : undefined;
    }
    case "logs-dropped":
      return isId(value["id"]) ? { t: "logs-dropped", id: value["id"] } : undefined;
    case "sdk-call": {
      const { id, callId, service, method, requestJson } = value;
      if (!isId(id) || !isId(callId) || !isName(service) || !isName(method) || !str(requestJson)) return undefined;
      return { t: "sdk-call", id, callId, service, method, requestJson };
    }
    case "done": {
      const outcome = parseOutcome(value["outcome"]);
      return isId(value["id"]) && outcome !== undefined ? { t: "done", id: value["id"], outcome } : undefined;
    }
    default:
      return undefined;
  }
}

/** Service property → method names, as a run exposes them; undefined unless every name is valid. */
export function parseServices(value: unknown): Record<string, readonly string[]> | undefined {
  if (!isRecord(value)) return undefined;
  const services: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
  for (const [service, methods] of Object.entries(value)) {
    if (!isName(service) || !Array.isArray(methods) || !methods.every(isName)) return undefined;
    services[service] = methods as string[];
  }
  return services;
}

function parseLimits(value: unknown): ChildLimits | undefined {
  if (!isRecord(value)) return undefined;
  for (const key of Object.keys(defaultExecutionLimits)) if (!isId(value[key])) return undefined;
  return value as unknown as ChildLimits; // every key checked above
}

function parseReply(value: unknown): WireReply | undefined {
  if (!Array.isArray(value)) return undefined;
  if (value[0] === "ok" && value.length === 2 && str(value[1])) return ["ok", value[1]];
  if (value[0] === "error" && value.length === 3 && str(value[1]) && str(value[2])) {
    return ["error", value[1], value[2]];
  }
  return undefined;
}

/** Parses a message from the parent; undefined when it is not one of ours. */
export function parseParentMessage(value: unknown): ParentMessage | undefined {
  if (!isRecord(value)) return undefined;
  switch (value["t"]) {
    case "run": {
      const services = parseServices(value["services"]);
      const limits = parseLimits(value["limits"]);
      const { id, js } = value;
      if (!isId(id) || !str(js) || services === undefined || limits === undefined) return undefined;
      return { t: "run", id, js, services, limits };
    }
    case "sdk-result": {
      const reply = parseReply(value["reply"]);
      const { id, callId } = value;
      return isId(id) && isId(callId) && reply !== undefined ? { t: "sdk-result", id, callId, reply } : undefined;
    }
    case "cancel":
      return isId(value["id"]) ? { t: "cancel", id: value["id"] } : undefined;
    default:
      return undefined;
  }
}
