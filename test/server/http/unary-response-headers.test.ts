import { describe, expect, it } from "vitest";
import { trailerMux } from "@connectrpc/connect/protocol-connect";
import { muxedNodeHeaders } from "../../../server/http/unary-response-headers.js";
import { createRandom } from "../../helpers/random-json.js";

/** What the fast path wrote before: connect's trailerMux, then every entry copied into a plain object. */
function viaTrailerMux(header: Headers, trailer: Headers): Record<string, string> {
  const result: Record<string, string> = {};
  trailerMux(header, trailer).forEach((value, key) => {
    result[key] = value;
  });
  return result;
}

describe("muxedNodeHeaders", () => {
  it("gives what trailerMux gives, for random headers and trailers", () => {
    const random = createRandom(7);
    const names = ["content-type", "Retry-After", "x-a", "X-B", "trailer-x-a", "grpc-status"];
    const values = ["1", "text/plain", "a b", "ü", "", " ", "\t x ", "y\t"];
    for (let round = 0; round < 2000; round++) {
      const header = new Headers();
      const trailer = new Headers();
      for (let i = random.int(5); i > 0; i--) header.append(random.pick(names), random.pick(values));
      for (let i = random.int(4); i > 0; i--) trailer.append(random.pick(names), random.pick(values));
      expect(muxedNodeHeaders(header, trailer)).toEqual(viaTrailerMux(header, trailer));
    }
  });

  it("prefixes trailers and joins a trailer with a header of the same muxed name", () => {
    const header = new Headers({ "content-type": "application/json", "trailer-x-count": "1" });
    const trailer = new Headers([["x-count", "2"], ["x-count", "3"]]);
    expect(muxedNodeHeaders(header, trailer)).toEqual({ "content-type": "application/json", "trailer-x-count": "1, 2, 3" });
  });
});
