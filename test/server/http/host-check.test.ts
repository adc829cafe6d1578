import { describe, expect, it } from "vitest";
import { createHostCheck, hostnameOfAuthority, isLoopbackAddress } from "../../../server/http/host-check.js";
import type { NodeRequest } from "../../../server/http/probe-routes.js";

/** A request with only the headers the check reads. */
function requestWith(headers: Record<string, string>): NodeRequest {
  return { headers } as unknown as NodeRequest;
}

const check = createHostCheck(["Gateway.Internal."]);
const verdict = (headers: Record<string, string>) => check(requestWith(headers))?.header ?? "served";

describe("createHostCheck", () => {
  it.each([
    "127.0.0.1:7070",
    "127.0.0.1",
    "10.1.2.3:80",
    "[::1]:7070",
    "[::1]",
    "localhost:7070",
    "LOCALHOST.:7070",
    "app.localhost:7070",
    "gateway.internal:7070",
    "GATEWAY.internal",
  ])("serves Host %s (an IP address, a localhost name or a listed name)", (host) => {
    expect(verdict({ host })).toBe("served");
  });

  it.each([
    "attacker.example:7070",
    "attacker.example",
    "localhost.attacker.example",
    "127.0.0.1.attacker.example:7070",
    "gateway.internal.attacker.example",
    "evil@127.0.0.1:7070",
    "2130706433:7070",
    "",
  ])("refuses Host %s (a name a rebinding page could send)", (host) => {
    expect(verdict({ host })).toBe("host");
  });

  it("reads :authority over HTTP/2 before host", () => {
    expect(verdict({ ":authority": "attacker.example:7070", host: "127.0.0.1" })).toBe("host");
    expect(verdict({ ":authority": "127.0.0.1:7070" })).toBe("served");
  });

  it("serves a request without Host or Origin (no browser sends one)", () => {
    expect(verdict({})).toBe("served");
  });

  it.each(["http://localhost:5173", "http://127.0.0.1:7070", "http://127.0.0.2:3000", "https://gateway.internal", "http://[::1]:3000", "http://[::ffff:127.0.0.1]:3000"])(
    "serves a page at Origin %s",
    (origin) => {
      expect(verdict({ host: "127.0.0.1:7070", origin })).toBe("served");
    },
  );

  it.each([
    "https://attacker.example",
    "http://attacker.example:7070",
    "http://203.0.113.5",
    "http://192.168.1.10:8080",
    "http://[2001:db8::1]",
    "http://[::ffff:203.0.113.5]",
    "null",
    "not a url",
    "file:///tmp/page.html",
    // A listed name, but not a web page's origin (an app's own scheme).
    "app://gateway.internal",
  ])(
    "refuses a page at Origin %s, even when addressed to 127.0.0.1",
    (origin) => {
      expect(verdict({ host: "127.0.0.1:7070", origin })).toBe("origin");
    },
  );

  it("names what it refused, cut to a bounded length", () => {
    const huge = `${"a".repeat(100_000)}.example`;
    const refusal = check(requestWith({ host: huge }));
    expect(refusal?.message).toMatch(/^requests addressed to "a{256}… \(\d+ more characters\)" are not served/);
    expect(refusal?.message.length).toBeLessThan(600);
    expect(check(requestWith({ host: "attacker.example:7070" }))?.message).toContain('"attacker.example:7070"');
  });

  it("refuses several Origin values, joined as Node joins them or as a list", () => {
    expect(verdict({ host: "127.0.0.1", origin: "http://localhost:5173, https://attacker.example" })).toBe("origin");
    const list = { headers: { host: "127.0.0.1", origin: ["http://localhost:5173", "http://localhost:5173"] } } as unknown as NodeRequest;
    expect(check(list)?.header).toBe("origin");
  });

  it("serves pages at the listed CORS origins, exactly", () => {
    const withOrigins = createHostCheck([], ["https://UI.example.com", "http://localhost:80"]);
    const page = (origin: string) => withOrigins(requestWith({ host: "127.0.0.1:7070", origin }))?.header ?? "served";
    expect(page("https://ui.example.com")).toBe("served");
    expect(page("http://localhost")).toBe("served");
    expect(page("https://ui.example.com:8443")).toBe("origin");
    expect(page("http://ui.example.com")).toBe("origin");
    // A listed origin does not make its name one the gateway answers to.
    expect(withOrigins(requestWith({ host: "ui.example.com" }))?.header).toBe("host");
  });

  it("serves everything when the list has *", () => {
    const open = createHostCheck(["*"]);
    expect(open(requestWith({ host: "attacker.example", origin: "null" }))).toBeUndefined();
  });
});

describe("isLoopbackAddress", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.9.9.9", true],
    ["::1", true],
    ["[::1]", true],
    ["[::ffff:7f00:1]", true],
    ["0.0.0.0", false],
    ["[::]", false],
    ["localhost", false],
  ])("%s → %s", (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });
});

describe("hostnameOfAuthority", () => {
  it.each([
    ["127.0.0.1:7070", "127.0.0.1"],
    ["example.com", "example.com"],
    ["[::1]:7070", "[::1]"],
    ["[::1]", "[::1]"],
    ["[broken", "[broken"],
  ])("%s → %s", (authority, hostname) => {
    expect(hostnameOfAuthority(authority)).toBe(hostname);
  });
});
