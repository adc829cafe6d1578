import { CircuitState, type GetStatsResponse, type ModelStats, type ProtogateClient } from "../sdk/index.js";
import { formatTable } from "./text-table.js";

/** Where `protogate stats` writes. */
export interface StatsOutput {
  /** Writes text as is (the live view redraws with ANSI escapes). */
  readonly write: (text: string) => void;
}

/** What `protogate stats` was told. */
export interface StatsArgs {
  /** Print one summary and exit. */
  readonly once: boolean;
  /** Seconds between redraws. */
  readonly intervalSeconds: number;
  /** Only this model, when set. */
  readonly model: string;
}

const usage = "usage: protogate stats [--once] [--interval SECONDS] [--model ID] [--url URL] [--protocol connect|grpc|grpc-web]";

/** Parses `stats` arguments (after the client flags were taken out). */
export function parseStatsArgs(argv: readonly string[]): StatsArgs {
  let once = false;
  let intervalSeconds = 2;
  let model = "";
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === "--once") once = true;
    else if (arg === "--interval" || arg === "--model") {
      const value = argv[++index];
      if (value === undefined) throw new Error(`${arg} needs a value\n${usage}`);
      if (arg === "--model") model = value;
      else {
        intervalSeconds = Number(value);
        if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0.2) throw new Error(`--interval must be a number of seconds ≥ 0.2\n${usage}`);
      }
    } else throw new Error(`unknown argument "${arg}"\n${usage}`);
  }
  return { once, intervalSeconds, model };
}

/**
 * `protogate stats`: the gateway's live summary (StatsService.GetStats,
 * through the SDK) as a terminal view redrawn every `--interval` seconds
 * until Ctrl-C; `--once` prints it once, without escapes.
 */
export async function statsCommand(client: ProtogateClient, args: StatsArgs, output: StatsOutput, signal: AbortSignal): Promise<void> {
  for (;;) {
    const response = await client.stats.getStats({ model: args.model }, { signal });
    const lines = renderStats(response);
    if (args.once) {
      output.write(`${lines.join("\n")}\n`);
      return;
    }
    // Home the cursor and clear the screen, then draw.
    output.write(`\x1b[H\x1b[2J${lines.join("\n")}\n\n(every ${args.intervalSeconds} s; Ctrl-C to quit)\n`);
    const stopped = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(false);
      }, args.intervalSeconds * 1000);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(true);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
    if (stopped) return;
  }
}

const circuitNames: Record<CircuitState, string> = {
  [CircuitState.UNSPECIFIED]: "-",
  [CircuitState.CLOSED]: "closed",
  [CircuitState.HALF_OPEN]: "half-open",
  [CircuitState.OPEN]: "open",
};

/** The summary as lines of text: a header, the backends, then each model's windows. */
function renderStats(response: GetStatsResponse): string[] {
  const sessions = response.sessions;
  const lines = [
    `protogate stats — up ${formatDuration(response.uptimeSeconds)}; sessions: ${sessions?.active ?? 0n} active, ` +
      `${sessions?.closedErrorFree ?? 0n} closed error-free, ${sessions?.closedWithErrors ?? 0n} closed with errors`,
    "",
  ];
  lines.push(
    ...formatTable(
      ["BACKEND", "UP", "READY", "CIRCUIT", "IN-FLIGHT", "QUEUED", "DETAIL"],
      response.backends.map((backend) => [
        backend.id,
        backend.up ? "yes" : "no",
        backend.ready ? "yes" : "no",
        circuitNames[backend.circuit],
        String(backend.inFlight),
        String(backend.queued),
        backend.detail,
      ]),
    ),
    "",
  );
  const models: ModelStats[] = [...(response.overall === undefined ? [] : [response.overall]), ...response.models];
  const rows = models.flatMap((model) =>
    model.windows.map((window, index) => [
      index === 0 ? model.model : "",
      `${window.windowSeconds / 60}m`,
      String(window.requests),
      window.requestsPerSecond.toFixed(2),
      ms(window.latencyP50Ms),
      ms(window.latencyP95Ms),
      ms(window.ttftP50Ms),
      ms(window.ttftP95Ms),
      percent(window.errorRate),
      percent(window.errorFreeSessionRatio),
      Object.entries(window.errorsByCode)
        .sort(([, a], [, b]) => (a > b ? -1 : a < b ? 1 : 0))
        .slice(0, 3)
        .map(([code, count]) => `${code}=${count}`)
        .join(" ") || "-",
    ]),
  );
  lines.push(...formatTable(["MODEL", "WINDOW", "REQS", "REQ/S", "P50", "P95", "TTFT P50", "TTFT P95", "ERRORS", "ERROR-FREE SESSIONS", "BY CODE"], rows));
  if (response.models.length === 0) lines.push("", "no inference requests in the last 15 minutes");
  return lines;
}

function ms(value: number | undefined): string {
  if (value === undefined) return "-";
  return value >= 1000 ? `${(value / 1000).toFixed(2)}s` : `${value.toFixed(value < 10 ? 1 : 0)}ms`;
}

function percent(value: number | undefined): string {
  return value === undefined ? "-" : `${(value * 100).toFixed(1)}%`;
}

function formatDuration(seconds: number): string {
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
