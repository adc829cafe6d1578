import { describe, expect, it } from "vitest";
import { Http1ParseError, type Http1ResponseHead, Http1ResponseParser } from "../../../server/backends/http1-response-parser.js";

/** What a parser delivered for one response. */
interface Parsed {
  head: Http1ResponseHead | undefined;
  body: string;
  ended: boolean;
  /** Bytes reported as following the response. */
  extra: number;
}

/** Feeds `wire` to a new parser in pieces of `pieceLength` bytes (all at once by default). */
function parse(wire: string | Buffer, pieceLength = Number.POSITIVE_INFINITY, closeAfter = false, maxHeadBytes?: number): Parsed {
  const bytes = typeof wire === "string" ? Buffer.from(wire, "latin1") : wire;
  const result: Parsed = { head: undefined, body: "", ended: false, extra: 0 };
  const pieces: Buffer[] = [];
  const parser = new Http1ResponseParser(
    {
      onHead: (head) => {
        expect(result.head).toBeUndefined();
        result.head = head;
      },
      onBody: (chunk) => {
        expect(result.ended).toBe(false);
        pieces.push(Buffer.from(chunk));
      },
      onEnd: () => {
        expect(result.ended).toBe(false);
        result.ended = true;
      },
    },
    maxHeadBytes,
  );
  const step = Math.min(pieceLength, bytes.length);
  for (let offset = 0; offset < bytes.length; offset += step) result.extra += parser.execute(bytes.subarray(offset, offset + step));
  if (closeAfter) parser.end();
  result.body = Buffer.concat(pieces).toString("utf8");
  return result;
}

/** Every way of cutting `wire` into pieces of one size, from one byte to all of it. */
function everySplit(wire: string, check: (parsed: Parsed) => void): void {
  for (let pieceLength = 1; pieceLength <= wire.length; pieceLength++) check(parse(wire, pieceLength));
}

const chunkedWire =
  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
  "7\r\ndata: {\r\n" +
  "17;name=value\r\n\"content\":\"h\u00c3\u00a9llo\"}\n\n  \r\n" +
  "0\r\nX-Trailer: yes\r\n\r\n";

describe("HTTP/1.1 response parser", () => {
  it("reads a Content-Length body the same however the bytes are cut", () => {
    const wire = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 12\r\n\r\n{"ok":true}\n';
    everySplit(wire, (parsed) => {
      expect(parsed.head).toEqual({ status: 200, headers: { "content-type": "application/json", "content-length": "12" }, keepAlive: true });
      expect(parsed.body).toBe('{"ok":true}\n');
      expect(parsed.ended).toBe(true);
      expect(parsed.extra).toBe(0);
    });
  });

  it("takes a chunked body out of its framing, with chunk extensions and trailers, however the bytes are cut", () => {
    everySplit(chunkedWire, (parsed) => {
      expect(parsed.head?.status).toBe(200);
      expect(parsed.head?.keepAlive).toBe(true);
      expect(parsed.body).toBe('data: {"content":"héllo"}\n\n  ');
      expect(parsed.ended).toBe(true);
      expect(parsed.extra).toBe(0);
    });
  });

  it("ends a chunked body without trailers at the empty line after the last chunk", () => {
    everySplit("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", (parsed) => {
      expect(parsed.body).toBe("abc");
      expect(parsed.ended).toBe(true);
    });
  });

  it("skips interim answers and reads the final one", () => {
    const parsed = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nRetry-After: 2\r\n\r\nbusy");
    expect(parsed.head).toEqual({ status: 503, headers: { "content-length": "4", "retry-after": "2" }, keepAlive: true });
    expect(parsed.body).toBe("busy");
  });

  it("ends at the head for 204 and 304 and for a zero length", () => {
    for (const wire of ["HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]) {
      const parsed = parse(wire);
      expect(parsed.ended).toBe(true);
      expect(parsed.body).toBe("");
    }
  });

  it("reads a body without length or chunking until the connection closes, and never reuses that connection", () => {
    const parser = new Http1ResponseParser({ onHead: (head) => expect(head.keepAlive).toBe(false), onBody: () => {}, onEnd: () => {} });
    parser.execute(Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":"));
    expect(parser.done).toBe(false);
    parser.execute(Buffer.from("1}"));
    parser.end();
    expect(parser.done).toBe(true);
    const parsed = parse("HTTP/1.1 200 OK\r\n\r\n{}", 1, true);
    expect(parsed.body).toBe("{}");
    expect(parsed.ended).toBe(true);
  });

  it("says when the connection may carry another request", () => {
    const keepAlive = (wire: string) => parse(`${wire}\r\n`).head?.keepAlive;
    expect(keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")).toBe(true);
    expect(keepAlive("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n")).toBe(false);
    expect(keepAlive("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n")).toBe(false);
    expect(keepAlive("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n")).toBe(true);
    expect(keepAlive("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n")).toBe(false);
    expect(keepAlive("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n")).toBe(true);
    // Content-Length beside chunked framing: read as chunked, and the connection not trusted again.
    const both = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    expect(both.body).toBe("ok");
    expect(both.head?.keepAlive).toBe(false);
    // A coding other than chunked last: the body runs to the close.
    expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", undefined, true)).toMatchObject({ body: "xyz", ended: true, head: { keepAlive: false } });
  });

  it("lower-cases names, trims values and joins a repeated header's values", () => {
    const parsed = parse("HTTP/1.1 200 OK\r\nX-A:  one \r\nx-a: two\r\nContent-Length: 2, 2\r\n\r\nok");
    expect(parsed.head?.headers).toEqual({ "x-a": "one, two", "content-length": "2, 2" });
    expect(parsed.body).toBe("ok");
  });

  it("reports bytes that follow the end of the response", () => {
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n").extra).toBe(17);
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok!", 1).extra).toBe(1);
  });

  it("refuses what could be read two ways, or is not HTTP/1.1 at all", () => {
    const refused: Array<[string, RegExp]> = [
      ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", /invalid Content-Length/],
      ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /invalid Content-Length/],
      ["HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", /invalid Content-Length/],
      ["HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", /invalid Content-Length/],
      ["HTTP/2 200 OK\r\n\r\n", /malformed status line/],
      ["HTTP/1.1 20 OK\r\n\r\n", /malformed status line/],
      ["ICY 200 OK\r\n\r\n", /malformed status line/],
      ["SSH-2.0-OpenSSH_9.2\r\n\r\n", /malformed status line/],
      ["HTTP/1.1 200 OK\r\nX-A: one\r\n  folded\r\n\r\n", /malformed header line/],
      ["HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", /malformed header line/],
      ["HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", /malformed header line/],
      ["HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n", /malformed header line/],
      ["HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", /malformed header line/],
      ["HTTP/1.1 101 Switching Protocols\r\n\r\n", /unexpected 101/],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /malformed chunk size/],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", /malformed chunk size/],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", /malformed chunk size/],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n", /longer than its size/],
    ];
    for (const [wire, message] of refused) {
      for (const pieceLength of [1, Number.POSITIVE_INFINITY]) {
        expect(() => parse(wire, pieceLength), `${JSON.stringify(wire)} in pieces of ${pieceLength}`).toThrow(message);
      }
    }
  });

  it("refuses a head or trailer section over the limit as soon as it is over, without waiting for its end", () => {
    const endless = `HTTP/1.1 200 OK\r\n${"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(100)}`;
    expect(() => parse(endless, 64, false, 1024)).toThrow(new Http1ParseError("the response head is longer than 1024 bytes"));
    const trailers = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${"X-T: t\r\n".repeat(200)}`;
    expect(() => parse(trailers, 7, false, 1024)).toThrow(/trailer section is longer than 1024 bytes/);
    const longChunkLine = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(5000)}`;
    expect(() => parse(longChunkLine)).toThrow(/chunk size line is longer/);
  });

  it("says whether a connection that closes early left no answer or a cut body", () => {
    const closedBeforeAnswer = new Http1ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    closedBeforeAnswer.execute(Buffer.from("HTTP/1.1 200"));
    expect(closedBeforeAnswer.headRead).toBe(false);
    expect(() => closedBeforeAnswer.end()).toThrow("the connection closed before a response");
    const cutBody = new Http1ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    cutBody.execute(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    expect(cutBody.headRead).toBe(true);
    expect(() => cutBody.end()).toThrow("the response ended before its end");
    const cutChunk = new Http1ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    cutChunk.execute(Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"));
    expect(() => cutChunk.end()).toThrow(Http1ParseError);
  });

  it("hands body bytes on as views of what was read, not copies", () => {
    const wire = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    const seen: Buffer[] = [];
    new Http1ResponseParser({ onHead: () => {}, onBody: (chunk) => seen.push(chunk), onEnd: () => {} }).execute(wire);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.buffer).toBe(wire.buffer);
  });
});
