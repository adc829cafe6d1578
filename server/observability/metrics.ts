import type { DescService } from "@bufbuild/protobuf";
import type { Code } from "@connectrpc/connect";
import { Counter, Gauge, Registry } from "prom-client";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ArgumentsStatus } from "../../gen/protogate/v1/chat_pb.js";
import { InferenceService } from "../../gen/protogate/v1/inference_service_pb.js";
import { ModelService } from "../../gen/protogate/v1/model_service_pb.js";
import { type CircuitState, type RetryReason, retryReasons } from "../reliability/index.js";
import { codeLabel, noneLabel, unknownLabel } from "./labels.js";
import type { WindowName } from "./rolling-stats.js";
import { SeriesCounter, SeriesGauge, SeriesHistogram } from "./series-metrics.js";
import type { SessionOutcome } from "./session-tracker.js";

/**
 * Buckets of `protogate_request_duration_seconds` and
 * `protogate_upstream_duration_seconds`: 1 ms to 600 s. Local generations
 * run from milliseconds (cached, short) to minutes (long outputs on CPU).
 */
export const durationBucketsSeconds: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600,
];

/**
 * Buckets of `protogate_time_to_first_token_seconds`: 5 ms to 120 s; the
 * top covers prompt processing of long contexts and cold model loads.
 */
export const timeToFirstTokenBucketsSeconds: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120,
];

/**
 * Buckets of `protogate_inter_token_latency_seconds`: 0.5 ms to 2 s
 * (2000 to 0.5 tokens per second).
 */
export const interTokenBucketsSeconds: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2,
];

/**
 * Buckets of `protogate_gateway_overhead_seconds` (total minus upstream):
 * 0.1 ms to 1 s. The gateway's own cost should sit in the lowest buckets.
 */
export const overheadBucketsSeconds: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Status labels of `protogate_tool_call_parse_failures_total`, from ArgumentsStatus. */
const argumentsStatusLabels: Readonly<Record<ArgumentsStatus, string>> = {
  [ArgumentsStatus.UNSPECIFIED]: "unspecified",
  [ArgumentsStatus.VALID_JSON_OBJECT]: "valid_json_object",
  [ArgumentsStatus.NOT_AN_OBJECT]: "not_an_object",
  [ArgumentsStatus.INVALID_JSON]: "invalid_json",
  [ArgumentsStatus.EMPTY]: "empty",
};

/**
 * Default outcomes of `protogate_sandbox_executions_total`, after "-" → "_":
 * the sandbox's result kinds (`ok`, `diagnostics` from the type check,
 * `error` thrown by agent code, `canceled`, `internal`) and its limit kinds
 * (`wall_time`, `memory`, `sdk_calls`, `concurrent_sdk_calls`, `output`,
 * `crash`) — pass `result.kind === "limit" ? result.limit : result.kind`.
 * Anything else is counted as "other".
 */
export const defaultSandboxOutcomes: readonly string[] = [
  "ok",
  "diagnostics",
  "error",
  "canceled",
  "internal",
  "wall_time",
  "memory",
  "sdk_calls",
  "concurrent_sdk_calls",
  "output",
  "crash",
];

/** One finished RPC, as `recordRequest` takes it. */
export interface RequestRecord {
  /** Fully-qualified service name, e.g. "protogate.v1.InferenceService" (`req.service.typeName`). */
  readonly service: string;
  /** Method name as in the proto, e.g. "ChatStream" (`req.method.name`). */
  readonly method: string;
  /** The model name the client asked for; absent for RPCs without one. */
  readonly model?: string | undefined;
  /** The backend that served (or last failed) the request; absent when none was reached. */
  readonly backend?: string | undefined;
  /** "ok", or the Connect code of the failure. */
  readonly code: Code | "ok";
  /** Wall time of the whole RPC, in milliseconds. */
  readonly durationMs: number;
  /** Time spent in backend calls (all attempts), in milliseconds; absent when no backend was called. */
  readonly upstreamMs?: number | undefined;
  /** Prompt tokens reported by the backend. */
  readonly tokensIn?: number | undefined;
  /** Completion tokens reported by the backend. */
  readonly tokensOut?: number | undefined;
}

/** Options of createGatewayMetrics. */
export interface GatewayMetricsOptions {
  /** Where to register; a fresh Registry by default (never prom-client's global one). */
  readonly registry?: Registry;
  /** Model names that may appear as a label value; others become "unknown". Called on every record, so return a prebuilt Set. */
  readonly knownModels: () => ReadonlySet<string>;
  /** Backend ids that may appear as a label value; when absent, ids pass through (they come from config). */
  readonly knownBackends?: () => ReadonlySet<string>;
  /** Services whose methods may appear as labels (default: InferenceService, ModelService, grpc Health). */
  readonly services?: readonly DescService[];
  /** Allowed sandbox outcome labels, with "_" not "-" (default `defaultSandboxOutcomes`). */
  readonly sandboxOutcomes?: readonly string[];
}

/**
 * The gateway's Prometheus metrics behind typed recording methods. Every
 * label value is bounded: models and backends by allowlists, service and
 * method by the proto descriptors, codes by connect's fixed code list, and
 * reasons and outcomes by fixed sets; anything else is "unknown" (or
 * "other" for sandbox outcomes), so hostile input cannot grow the series.
 * Durations are taken in milliseconds, as elsewhere in the gateway, and
 * exported in seconds, as Prometheus expects.
 */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** The Content-Type of `render()`'s output. */
  readonly contentType: string;
  /** The exposition text of the registry. */
  render(): Promise<string>;

  /**
   * Records a finished RPC: `protogate_requests_total`, the request,
   * upstream and overhead histograms, and `protogate_tokens_total`.
   */
  recordRequest(record: RequestRecord): void;
  /** Counts an RPC in `protogate_in_flight_requests` until the returned function is called (calling it twice is harmless). */
  startRequest(labels: { readonly service: string; readonly method: string }): () => void;
  /** Observes the time from the start of the RPC to its first generated token. */
  observeFirstToken(sample: { readonly model: string | undefined; readonly backend: string | undefined; readonly ttftMs: number }): void;
  /** Observes the gap between two consecutive streamed tokens (or chunks). */
  observeInterTokenLatency(sample: {
    readonly model: string | undefined;
    readonly backend: string | undefined;
    readonly gapMs: number;
  }): void;
  /** Counts a retry that was scheduled. */
  recordRetry(retry: { readonly backend: string; readonly reason: RetryReason }): void;
  /** Counts a request that moved from one backend to another. */
  recordFallback(fallback: { readonly fromBackend: string; readonly toBackend: string }): void;
  /** Sets `protogate_circuit_state` (0 closed, 1 half-open, 2 open). */
  setCircuitState(backend: string, state: CircuitState): void;
  /** Sets `protogate_queue_depth` for a backend. */
  setQueueDepth(backend: string, depth: number): void;
  /** Sets `protogate_backend_up` (answers at all) and `protogate_backend_ready` (can serve now). */
  setBackendStatus(status: { readonly backend: string; readonly up: boolean; readonly ready: boolean }): void;
  /** Replaces every `protogate_model_ready` series, so removed models disappear. */
  replaceModelReadiness(
    entries: Iterable<{ readonly model: string; readonly backend: string; readonly ready: boolean }>,
  ): void;
  /** Counts a tool call whose arguments are not a JSON object. */
  recordToolCallParseFailure(failure: { readonly model: string | undefined; readonly status: ArgumentsStatus }): void;
  /** Counts one sandbox execution by outcome ("-" becomes "_"; outcomes outside the allowlist count as "other"). */
  recordSandboxExecution(outcome: string): void;
  /** Counts a client connection closed on arrival because the connection limit was reached. */
  recordConnectionDropped(): void;
  /** Counts a request refused because the gateway had its limit of requests in flight. */
  recordRequestShed(): void;
  /** Counts a request refused because its Host or Origin header named a host the gateway does not answer to. */
  recordForeignHost(header: "host" | "origin"): void;
  /** Counts a response that violated the schema its request asked for. */
  recordSchemaViolation(labels: { readonly service: string; readonly method: string }): void;
  /** Counts a request rejected for breaking a rule of its message (invalid_argument with a buf.validate.Violations detail). */
  recordRequestViolation(labels: { readonly service: string; readonly method: string }): void;
  /** Sets `protogate_error_free_session_ratio` for a window ("1m", "5m", "15m"); undefined removes the series (no session in the window). */
  setErrorFreeSessionRatio(window: WindowName, ratio: number | undefined): void;
  /** Counts a closed session; `evicted` when it was closed early to bound memory. */
  recordSessionClosed(outcome: SessionOutcome, options?: { readonly evicted?: boolean }): void;
  /** Sets `protogate_sessions_active`. */
  setActiveSessions(count: number): void;
}

const circuitStateValues: Readonly<Record<CircuitState, number>> = { closed: 0, "half-open": 1, open: 2 };

interface RpcLabels {
  readonly service: string;
  readonly method: string;
}

const unknownRpcLabels: RpcLabels = { service: unknownLabel, method: unknownLabel };

/**
 * Creates and registers the gateway's metrics.
 *
 * @example
 * let models: ReadonlySet<string> = new Set(["qwen"]); // rebuilt when the catalog changes, not per record
 * const metrics = createGatewayMetrics({ knownModels: () => models });
 * metrics.recordRequest({ service: "protogate.v1.InferenceService", method: "Chat", model: "qwen", backend: "llama",
 *   code: "ok", durationMs: 812, upstreamMs: 809, tokensIn: 120, tokensOut: 64 });
 * response.setHeader("content-type", metrics.contentType).end(await metrics.render());
 */
export function createGatewayMetrics(options: GatewayMetricsOptions): GatewayMetrics {
  const registry = options.registry ?? new Registry();
  // The service and method labels of every known RPC, made once: each record reuses them.
  const rpcLabelsByService = new Map<string, ReadonlyMap<string, RpcLabels>>();
  for (const service of options.services ?? [InferenceService, ModelService, Health]) {
    const { typeName } = service;
    rpcLabelsByService.set(typeName, new Map<string, RpcLabels>(service.methods.map((method) => [method.name, { service: typeName, method: method.name }])));
  }
  const sandboxOutcomes = new Set(options.sandboxOutcomes ?? defaultSandboxOutcomes);
  const allowedRetryReasons: ReadonlySet<string> = new Set(retryReasons);

  const counter = <L extends string>(name: string, labelNames: readonly L[], help: string) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string>(name: string, labelNames: readonly L[], help: string) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });
  // The metrics every request or streamed token updates: series handles, without prom-client's per-call label hashing.
  const seriesCounter = (name: string, labelNames: readonly string[], help: string) =>
    new SeriesCounter({ name, help, labelNames, registers: [registry] });
  const seriesHistogram = (name: string, labelNames: readonly string[], buckets: readonly number[], help: string) =>
    new SeriesHistogram({ name, help, labelNames, buckets, registers: [registry] });

  const requests = seriesCounter("protogate_requests_total", ["service", "method", "model", "backend", "code"],
    "RPCs finished, by service, method, model, backend and Connect code.");
  const requestDuration = seriesHistogram("protogate_request_duration_seconds", ["service", "method", "model", "backend"], durationBucketsSeconds,
    "Wall time of RPCs, from the first byte of the request to the last byte of the answer.");
  const timeToFirstToken = seriesHistogram("protogate_time_to_first_token_seconds", ["model", "backend"], timeToFirstTokenBucketsSeconds,
    "Time from the start of an RPC to the first generated token.");
  const interTokenLatency = seriesHistogram("protogate_inter_token_latency_seconds", ["model", "backend"], interTokenBucketsSeconds,
    "Gap between consecutive streamed tokens or chunks.");
  const upstreamDuration = seriesHistogram("protogate_upstream_duration_seconds", ["model", "backend"], durationBucketsSeconds,
    "Time spent in backend calls per RPC, all attempts included.");
  const gatewayOverhead = seriesHistogram("protogate_gateway_overhead_seconds", ["service", "method"], overheadBucketsSeconds,
    "Time an RPC spent in the gateway itself: total minus upstream.");
  const tokens = seriesCounter("protogate_tokens_total", ["model", "backend", "direction"],
    "Tokens reported by backends; direction is in (prompt) or out (completion).");
  const inFlight = new SeriesGauge({
    name: "protogate_in_flight_requests",
    help: "RPCs started and not finished.",
    labelNames: ["service", "method"],
    registers: [registry],
  });
  const queueDepth = gauge("protogate_queue_depth", ["backend"], "Requests waiting for a backend slot.");
  const backendUp = gauge("protogate_backend_up", ["backend"], "1 when the backend answered its last discovery, else 0.");
  const backendReady = gauge("protogate_backend_ready", ["backend"], "1 when the backend can serve requests now, else 0.");
  const modelReady = gauge("protogate_model_ready", ["model", "backend"],
    "1 when the model is loaded and servable on the backend, else 0.");
  const retries = counter("protogate_retries_total", ["backend", "reason"], "Retries of backend calls, by reason.");
  const fallbacks = counter("protogate_fallbacks_total", ["from_backend", "to_backend"], "Requests moved from one backend to another.");
  const circuitState = gauge("protogate_circuit_state", ["backend"], "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.");
  const toolCallParseFailures = counter("protogate_tool_call_parse_failures_total", ["model", "status"],
    "Tool calls whose arguments are not a JSON object, by arguments status.");
  const sandboxExecutions = counter("protogate_sandbox_executions_total", ["outcome"], "Sandbox executions, by outcome.");
  const schemaViolations = counter("protogate_schema_violations_total", ["service", "method"],
    "Responses that violated the output schema their request asked for.");
  const requestViolations = counter("protogate_request_violations_total", ["service", "method"],
    "Requests rejected because a field broke a rule of the contract (invalid_argument with a buf.validate.Violations detail).");
  const errorFreeSessionRatio = gauge("protogate_error_free_session_ratio", ["window"],
    "Share of sessions active in the window in which no request failed; absent when no session was active.");
  const sessions = counter("protogate_sessions_total", ["outcome"], "Closed sessions, by whether any of their requests failed.");
  const sessionsEvicted = counter("protogate_sessions_evicted_total", [],
    "Sessions closed early because the tracker reached its size limit (also counted in protogate_sessions_total).");
  const sessionsActive = gauge("protogate_sessions_active", [], "Sessions seen recently and not yet closed.");
  const connectionsDropped = counter("protogate_connections_dropped_total", [],
    "Client connections closed on arrival because limits.maxConnections were open.");
  const requestsShed = counter("protogate_requests_shed_total", [],
    "Requests refused before they were read because limits.maxInFlightRequests were in flight.");
  const foreignHosts = counter("protogate_foreign_host_requests_total", ["header"],
    "Requests refused because their Host or Origin header named a host not in listen.allowed_hosts (DNS rebinding, cross-site pages).");

  const modelLabel = (model: string | undefined) =>
    model === undefined || model === "" ? noneLabel : options.knownModels().has(model) ? model : unknownLabel;
  const backendLabel = (backend: string | undefined) => {
    if (backend === undefined || backend === "") return noneLabel;
    if (options.knownBackends === undefined) return backend;
    return options.knownBackends().has(backend) ? backend : unknownLabel;
  };
  const rpcLabels = (service: string, method: string): RpcLabels => {
    const methods = rpcLabelsByService.get(service);
    if (methods === undefined) return unknownRpcLabels;
    return methods.get(method) ?? { service, method: unknownLabel };
  };
  const seconds = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) || ms < 0 ? undefined : ms / 1000);
  const count = (value: number | undefined) =>
    value === undefined || !Number.isFinite(value) || value <= 0 ? undefined : value;

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),

    recordRequest(record) {
      const rpc = rpcLabels(record.service, record.method);
      const model = modelLabel(record.model);
      const backend = backendLabel(record.backend);
      requests.series([rpc.service, rpc.method, model, backend, codeLabel(record.code)]).value += 1;
      const total = seconds(record.durationMs);
      if (total !== undefined) requestDuration.series([rpc.service, rpc.method, model, backend]).observe(total);
      const upstream = seconds(record.upstreamMs);
      if (upstream !== undefined) upstreamDuration.series([model, backend]).observe(upstream);
      if (total !== undefined) gatewayOverhead.series([rpc.service, rpc.method]).observe(Math.max(0, total - (upstream ?? 0)));
      const tokensIn = count(record.tokensIn);
      if (tokensIn !== undefined) tokens.series([model, backend, "in"]).value += tokensIn;
      const tokensOut = count(record.tokensOut);
      if (tokensOut !== undefined) tokens.series([model, backend, "out"]).value += tokensOut;
    },

    startRequest(labels) {
      const rpc = rpcLabels(labels.service, labels.method);
      const series = inFlight.series([rpc.service, rpc.method]);
      series.value += 1;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        series.value -= 1;
      };
    },

    observeFirstToken(sample) {
      const value = seconds(sample.ttftMs);
      if (value !== undefined) timeToFirstToken.series([modelLabel(sample.model), backendLabel(sample.backend)]).observe(value);
    },

    observeInterTokenLatency(sample) {
      const value = seconds(sample.gapMs);
      if (value !== undefined) interTokenLatency.series([modelLabel(sample.model), backendLabel(sample.backend)]).observe(value);
    },

    recordRetry(retry) {
      retries.inc({ backend: backendLabel(retry.backend), reason: allowedRetryReasons.has(retry.reason) ? retry.reason : unknownLabel });
    },

    recordFallback(fallback) {
      fallbacks.inc({ from_backend: backendLabel(fallback.fromBackend), to_backend: backendLabel(fallback.toBackend) });
    },

    setCircuitState(backend, state) {
      circuitState.set({ backend: backendLabel(backend) }, circuitStateValues[state]);
    },

    setQueueDepth(backend, depth) {
      queueDepth.set({ backend: backendLabel(backend) }, depth);
    },

    setBackendStatus(status) {
      const labels = { backend: backendLabel(status.backend) };
      backendUp.set(labels, status.up ? 1 : 0);
      backendReady.set(labels, status.ready ? 1 : 0);
    },

    replaceModelReadiness(entries) {
      modelReady.reset();
      for (const entry of entries) {
        modelReady.set({ model: modelLabel(entry.model), backend: backendLabel(entry.backend) }, entry.ready ? 1 : 0);
      }
    },

    recordToolCallParseFailure(failure) {
      toolCallParseFailures.inc({ model: modelLabel(failure.model), status: argumentsStatusLabels[failure.status] ?? unknownLabel });
    },

    recordSandboxExecution(outcome) {
      const normalized = outcome.replaceAll("-", "_");
      sandboxExecutions.inc({ outcome: sandboxOutcomes.has(normalized) ? normalized : "other" });
    },

    recordSchemaViolation(labels) {
      schemaViolations.inc(rpcLabels(labels.service, labels.method));
    },

    recordRequestViolation(labels) {
      requestViolations.inc(rpcLabels(labels.service, labels.method));
    },

    setErrorFreeSessionRatio(window, ratio) {
      if (ratio === undefined || !Number.isFinite(ratio)) errorFreeSessionRatio.remove({ window });
      else errorFreeSessionRatio.set({ window }, ratio);
    },

    recordConnectionDropped() {
      connectionsDropped.inc();
    },

    recordRequestShed() {
      requestsShed.inc();
    },

    recordForeignHost(header) {
      foreignHosts.inc({ header });
    },

    recordSessionClosed(outcome, closeOptions) {
      sessions.inc({ outcome: outcome === "error_free" ? "error_free" : "with_errors" });
      if (closeOptions?.evicted === true) sessionsEvicted.inc();
    },

    setActiveSessions(active) {
      sessionsActive.set(active);
    },
  };
}
