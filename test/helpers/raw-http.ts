import { request as httpRequest } from "node:http";

/** What a raw HTTP/1.1 exchange returned, exactly as it came off the wire. */
export interface RawHttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A request to send byte for byte: no header is added but those Node requires (host, and framing). */
export interface RawHttpRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Send the body in this many chunked pieces without a content-length. */
  readonly chunks?: number;
}

/**
 * Sends one HTTP/1.1 request with node:http (no fetch: it would add
 * accept-encoding and other headers of its own) and reads the whole answer.
 *
 * @example
 * const { status, body } = await sendRaw(gateway.url, { path: "/healthz", method: "GET" });
 */
export function sendRaw(baseUrl: string, request: RawHttpRequest): Promise<RawHttpResponse> {
  const url = new URL(request.path, baseUrl);
  const body = typeof request.body === "string" ? Buffer.from(request.body) : request.body;
  const headers: Record<string, string> = { ...request.headers };
  if (body !== undefined && request.chunks === undefined) headers["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: request.method ?? "POST", headers, agent: false, signal: AbortSignal.timeout(10_000) }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    outgoing.on("error", reject);
    if (body === undefined) {
      outgoing.end();
      return;
    }
    if (request.chunks === undefined) {
      outgoing.end(body);
      return;
    }
    const size = Math.ceil(body.length / request.chunks);
    for (let offset = 0; offset < body.length; offset += size) outgoing.write(body.subarray(offset, offset + size));
    outgoing.end();
  });
}
