/**
 * The JavaScript that runs inside every fresh isolate before the agent code.
 * It is evaluated as a closure whose arguments are four host callbacks and a
 * config string; they stay in this closure and are never put on a global:
 *
 *   $0 startCall(callId, service, method, requestJson)  → undefined (answer comes later)
 *   $1 emitLog(level, text)                              → false once logs are full
 *   $2 report(kind, ...strings)                          → the outcome, exactly once
 *   $3 config JSON: { services, maxOutputBytes, maxLogBytes }
 *
 * It returns `[resolveCall, run]` for the host to hold as References:
 * `resolveCall(callId, "ok", json)` / `resolveCall(callId, "error", code, message)`
 * settles an SDK call, and `run(main)` awaits the agent function and reports.
 *
 * Everything the prelude needs later is captured before agent code runs
 * ("primordials"), so an agent that overwrites JSON, Promise, Array.prototype
 * or String.prototype only breaks its own results: whatever it does, only
 * strings reach the host, and the host checks them.
 *
 * It also takes away code generation from strings (eval, Function and the
 * async/generator function constructors reached through `.constructor`),
 * WebAssembly, SharedArrayBuffer and Atomics.
 */
/** The script name prelude frames carry in guest stacks (and are dropped by). */
export const guestPreludeFilename = "protogate:prelude";

/** The prelude's source; see the module comment for its contract. */
export const guestPrelude = String.raw`
"use strict";
const startCall = $0;
const emitLog = $1;
const report = $2;
const config = JSON.parse($3);

const global = globalThis;
const ReflectApply = Reflect.apply;
const ObjectDefineProperty = Object.defineProperty;
const ObjectFreeze = Object.freeze;
const ObjectCreate = Object.create;
const ObjectKeys = Object.keys;
const ObjectGetPrototypeOf = Object.getPrototypeOf;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ObjectIsPrototypeOf = Object.prototype.isPrototypeOf;
const ArrayIsArray = Array.isArray;
const JSONParse = JSON.parse;
const JSONStringify = JSON.stringify;
const StringSlice = String.prototype.slice;
const StringIndexOf = String.prototype.indexOf;
const SymbolToString = Symbol.prototype.toString;
const ErrorCtor = Error;
const ErrorPrototype = Error.prototype;
const TypeErrorCtor = TypeError;
const EvalErrorCtor = EvalError;
const PromiseCtor = Promise;
const MapSize = ObjectGetOwnPropertyDescriptor(Map.prototype, "size").get;
const MapForEach = Map.prototype.forEach;
const SetSize = ObjectGetOwnPropertyDescriptor(Set.prototype, "size").get;
const SetForEach = Set.prototype.forEach;
const DateToISOString = Date.prototype.toISOString;
const RegExpToString = RegExp.prototype.toString;
const RegExpSource = ObjectGetOwnPropertyDescriptor(RegExp.prototype, "source").get;
const RegExpExec = RegExp.prototype.exec;

const slice = (s, start, end) => ReflectApply(StringSlice, s, [start, end]);
const indexOf = (s, search) => ReflectApply(StringIndexOf, s, [search]);
const isError = (value) => ReflectApply(ObjectIsPrototypeOf, ErrorPrototype, [value]);
const defineHidden = (target, key, value) =>
  ObjectDefineProperty(target, key, { value, writable: false, enumerable: false, configurable: false });

// --- no code generation from strings, no shared memory, no WebAssembly ---
const blockCodeGeneration = (label, prototype) => {
  const blocked = function () {
    throw new EvalErrorCtor(label + " is not available in the sandbox (no code generation from strings)");
  };
  ObjectDefineProperty(blocked, "name", { value: label });
  defineHidden(blocked, "prototype", prototype);
  if (prototype !== undefined) defineHidden(prototype, "constructor", blocked);
  return blocked;
};
defineHidden(global, "Function", blockCodeGeneration("Function", Function.prototype));
blockCodeGeneration("AsyncFunction", ObjectGetPrototypeOf(async function () {}));
blockCodeGeneration("GeneratorFunction", ObjectGetPrototypeOf(function* () {}));
blockCodeGeneration("AsyncGeneratorFunction", ObjectGetPrototypeOf(async function* () {}));
defineHidden(global, "eval", blockCodeGeneration("eval", undefined));
delete global.WebAssembly;
delete global.SharedArrayBuffer;
delete global.Atomics;

// --- formatting for console output ---
const inspect = (value, depth, budget) => {
  if (budget.left <= 0) return "…";
  let out;
  switch (typeof value) {
    case "string":
      out = depth === 0 ? value : JSONStringify(slice(value, 0, budget.left));
      break;
    case "number":
    case "boolean":
    case "undefined":
      out = "" + value;
      break;
    case "bigint":
      out = "" + value + "n";
      break;
    case "symbol":
      out = ReflectApply(SymbolToString, value, []);
      break;
    case "function": {
      const name = value.name;
      out = typeof name === "string" && name.length > 0 ? "[Function: " + slice(name, 0, 100) + "]" : "[Function]";
      break;
    }
    default:
      out = inspectObject(value, depth, budget);
  }
  budget.left -= out.length;
  return out;
};
const seen = [];
const inspectObject = (value, depth, budget) => {
  if (value === null) return "null";
  for (let i = 0; i < seen.length; i++) if (seen[i] === value) return "[Circular]";
  if (isError(value)) return errorText(value);
  try {
    const iso = ReflectApply(DateToISOString, value, []);
    return iso;
  } catch {}
  try {
    ReflectApply(RegExpSource, value, []); // throws unless value is a RegExp
    return ReflectApply(RegExpToString, value, []);
  } catch {}
  if (depth >= 4) return ArrayIsArray(value) ? "[Array]" : "[Object]";
  seen[seen.length] = value;
  try {
    const parts = [];
    const add = (text) => {
      parts[parts.length] = text;
    };
    let open = "{ ";
    let close = " }";
    if (ArrayIsArray(value)) {
      open = "[ ";
      close = " ]";
      const length = value.length;
      for (let i = 0; i < length && i < 100 && budget.left > 0; i++) add(inspect(value[i], depth + 1, budget));
      if (length > 100) add("… " + (length - 100) + " more items");
      if (length === 0) return "[]";
    } else {
      let isCollection = false;
      try {
        const size = ReflectApply(MapSize, value, []);
        isCollection = true;
        open = "Map(" + size + ") { ";
        ReflectApply(MapForEach, value, [
          (v, k) => {
            if (parts.length < 100 && budget.left > 0) add(inspect(k, depth + 1, budget) + " => " + inspect(v, depth + 1, budget));
          },
        ]);
      } catch {}
      if (!isCollection) {
        try {
          const size = ReflectApply(SetSize, value, []);
          isCollection = true;
          open = "Set(" + size + ") { ";
          ReflectApply(SetForEach, value, [
            (v) => {
              if (parts.length < 100 && budget.left > 0) add(inspect(v, depth + 1, budget));
            },
          ]);
        } catch {}
      }
      if (!isCollection) {
        const keys = ObjectKeys(value);
        for (let i = 0; i < keys.length && i < 100 && budget.left > 0; i++) {
          const key = keys[i];
          add(key + ": " + inspect(value[key], depth + 1, budget));
        }
        if (keys.length > 100) add("… " + (keys.length - 100) + " more keys");
        if (keys.length === 0) return "{}";
      }
    }
    let text = open;
    for (let i = 0; i < parts.length; i++) text += (i > 0 ? ", " : "") + parts[i];
    return text + close;
  } finally {
    seen.length = seen.length - 1;
  }
};
const agentFrame = /\(?agent\.js:\d+:\d+\)?$/;
const errorText = (error) => {
  const name = error.name;
  const message = error.message;
  let text = (typeof name === "string" ? name : "Error") + ": " + (typeof message === "string" ? message : "");
  const stack = error.stack;
  if (typeof stack === "string") {
    const rest = slice(stack, 0, 16384);
    let start = indexOf(rest, "\n");
    while (start !== -1) {
      const end = ReflectApply(StringIndexOf, rest, ["\n", start + 1]);
      const line = slice(rest, start + 1, end === -1 ? rest.length : end);
      if (ReflectApply(RegExpExec, agentFrame, [line]) !== null) text += "\n" + line;
      start = end;
    }
  }
  return text;
};
const formatArgs = (args) => {
  const budget = { left: config.maxLogBytes };
  let text = "";
  for (let i = 0; i < args.length && budget.left > 0; i++) {
    let piece;
    try {
      const arg = args[i];
      piece = typeof arg === "string" ? slice(arg, 0, budget.left) : inspect(arg, 0, budget);
      if (typeof arg === "string") budget.left -= piece.length;
    } catch {
      piece = "[value could not be printed]";
    }
    text += (i > 0 ? " " : "") + piece;
  }
  return slice(text, 0, config.maxLogBytes);
};
let logsOpen = true;
const makeLogger = (level) =>
  function (...args) {
    if (!logsOpen) return;
    seen.length = 0;
    if (emitLog(level, formatArgs(args)) !== true) logsOpen = false;
  };
const consoleObject = {};
defineHidden(consoleObject, "log", makeLogger("log"));
defineHidden(consoleObject, "info", makeLogger("info"));
defineHidden(consoleObject, "warn", makeLogger("warn"));
defineHidden(consoleObject, "error", makeLogger("error"));
defineHidden(consoleObject, "debug", makeLogger("debug"));
ObjectFreeze(consoleObject);
ObjectDefineProperty(global, "console", { value: consoleObject, writable: true, enumerable: false, configurable: true });

// --- the SDK: gateway.<service>.<method>(request) and SdkError ---
class SdkError extends ErrorCtor {
  constructor(code, message) {
    super(message);
    ObjectDefineProperty(this, "code", { __proto__: null, value: "" + code, writable: false, enumerable: true, configurable: true });
  }
}
ObjectDefineProperty(SdkError.prototype, "name", { value: "SdkError", writable: true, enumerable: false, configurable: true });
ObjectDefineProperty(global, "SdkError", { value: SdkError, writable: true, enumerable: false, configurable: true });

const pending = ObjectCreate(null);
let lastCallId = 0;
const callHost = (service, method, requestJson) =>
  new PromiseCtor((resolve) => {
    lastCallId += 1;
    const callId = lastCallId;
    pending[callId] = resolve;
    startCall(callId, service, method, requestJson);
  });
const makeMethod = (service, method) => {
  const call = async function (request) {
    const requestJson = JSONStringify(request === undefined ? {} : request);
    if (typeof requestJson !== "string") {
      throw new TypeErrorCtor("gateway." + service + "." + method + " takes a request object");
    }
    const reply = await callHost(service, method, requestJson);
    if (slice(reply, 0, 1) === "o") return JSONParse(slice(reply, 1));
    const split = indexOf(reply, "\u0000");
    throw new SdkError(slice(reply, 1, split), slice(reply, split + 1));
  };
  ObjectDefineProperty(call, "name", { value: method });
  return call;
};
const gateway = {};
const serviceNames = ObjectKeys(config.services);
for (let i = 0; i < serviceNames.length; i++) {
  const service = serviceNames[i];
  const methods = config.services[service];
  const stubs = {};
  for (let j = 0; j < methods.length; j++) {
    ObjectDefineProperty(stubs, methods[j], { value: makeMethod(service, methods[j]), enumerable: true });
  }
  ObjectDefineProperty(gateway, service, { value: ObjectFreeze(stubs), enumerable: true });
}
ObjectDefineProperty(global, "gateway", { value: ObjectFreeze(gateway), writable: false, enumerable: false, configurable: false });

function resolveCall(callId, kind, first, second) {
  const resolve = pending[callId];
  if (resolve === undefined) return;
  delete pending[callId];
  resolve(kind === "ok" ? "o" + first : "e" + first + "\u0000" + second);
}

// --- running the agent function and reporting its outcome ---
const outputLimit = ObjectFreeze(ObjectCreate(null));
const serialize = (value) => {
  let left = config.maxOutputBytes;
  // Counts a lower bound of the JSON's UTF-8 size as it is produced, so a
  // huge value stops early; the host checks the exact size afterwards.
  const replacer = function (key, v) {
    const type = typeof v;
    if (type === "undefined" || type === "function" || type === "symbol") return v;
    if (key !== "" && !ArrayIsArray(this)) left -= key.length + 3;
    if (type === "string") left -= v.length + 2;
    else if (type === "number") left -= ("" + v).length;
    else left -= 2;
    if (left < 0) throw outputLimit;
    return v;
  };
  const json = JSONStringify(value === undefined ? null : value, replacer);
  return typeof json === "string" ? json : "null";
};
const describe = (error) => {
  let name = "Error";
  let message = "";
  let stack = "";
  try {
    if ((typeof error === "object" && error !== null) || typeof error === "function") {
      const n = error.name;
      const m = error.message;
      const s = error.stack;
      if (typeof n === "string") name = n;
      message = typeof m === "string" ? m : m === undefined ? "" : inspect(m, 1, { left: 4096 });
      if (typeof s === "string") stack = s;
    } else {
      message = typeof error === "string" ? error : inspect(error, 1, { left: 4096 });
    }
  } catch {
    name = "Error";
    message = "the thrown value could not be read";
    stack = "";
  }
  report("error", slice(name, 0, 200), slice(message, 0, 8192), slice(stack, 0, 16384));
};
async function run(main) {
  let value;
  try {
    value = await main();
  } catch (error) {
    describe(error);
    return;
  }
  let json;
  try {
    json = serialize(value);
  } catch (error) {
    if (error === outputLimit) report("output");
    else describe(error);
    return;
  }
  report("ok", json);
}
return [resolveCall, run];
`;
