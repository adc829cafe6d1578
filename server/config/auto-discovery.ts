import type { BackendKind } from "../backends/backend.js";

/** A local inference server found on its standard port. */
export interface DiscoveredBackend {
  readonly id: string;
  readonly kind: BackendKind;
  readonly url: string;
  /** What answered, for the start-up message. */
  readonly product: string;
}

/** The standard local ports of the servers we front, checked in this order. */
export const standardLocalBackends: ReadonlyArray<{ id: string; kind: BackendKind; port: number; product: string; probePath: string }> = [
  { id: "ollama", kind: "ollama", port: 11434, product: "Ollama", probePath: "/api/version" },
  { id: "llamacpp", kind: "openai", port: 8080, product: "llama.cpp llama-server", probePath: "/v1/models" },
  { id: "lmstudio", kind: "openai", port: 1234, product: "LM Studio", probePath: "/v1/models" },
  { id: "vllm", kind: "openai", port: 8000, product: "vLLM", probePath: "/v1/models" },
];

/**
 * Looks for inference servers on their standard loopback ports (Ollama
 * 11434, llama.cpp 8080, LM Studio 1234, vLLM 8000). A port counts when its
 * probe path answers 2xx (or 503 for llama.cpp still loading) within the
 * timeout; anything else is skipped quietly.
 *
 * @example
 * const found = await discoverLocalBackends({ host: "127.0.0.1", timeoutMs: 800 });
 */
export async function discoverLocalBackends(options: {
  readonly host: string;
  readonly timeoutMs: number;
  readonly candidates?: typeof standardLocalBackends;
}): Promise<DiscoveredBackend[]> {
  const candidates = options.candidates ?? standardLocalBackends;
  const results = await Promise.all(
    candidates.map(async (candidate) => {
      const url = `http://${options.host}:${candidate.port}`;
      try {
        const response = await fetch(`${url}${candidate.probePath}`, { signal: AbortSignal.timeout(options.timeoutMs) });
        await response.body?.cancel();
        const answered = response.ok || response.status === 503;
        return answered ? [{ id: candidate.id, kind: candidate.kind, url, product: candidate.product }] : [];
      } catch {
        return [];
      }
    }),
  );
  return results.flat();
}
