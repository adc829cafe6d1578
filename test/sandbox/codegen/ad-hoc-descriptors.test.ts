import { beforeAll, describe, expect, it } from "vitest";
import { generateSandboxSurface, type SandboxSurface } from "../../../sandbox/codegen/index.js";
import { buildAdHocImage, filesUnder, type Image } from "./build-image.js";
import { compileDiagnostics } from "./compile-declarations.js";

const shop = `syntax = "proto3";

package acme.shop.v1;

import "acme/stock/v1/stock.proto";
import "buf/validate/validate.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// Places and watches orders.
service OrderService {
  // Places an order.
  rpc PlaceOrder(Order) returns (Order);
  // Uploads an order in chunks.
  rpc Upload(stream Chunk) returns (Order);
  // Streams order updates.
  rpc Watch(google.protobuf.Empty) returns (stream Order);
}

// Runs code; must never be reachable from sandbox code.
service SandboxService {
  // Runs.
  rpc Run(Chunk) returns (Chunk);
}

// Order states.
enum Status {
  // Unknown.
  STATUS_UNSPECIFIED = 0;
  // Open.
  STATUS_OPEN = 1;
  // Done.
  STATUS_DONE = 2;
}

// An order.
message Order {
  // The order's id.
  string id = 1 [(buf.validate.field).string.uuid = true];
  // Total in cents.
  int64 total_cents = 2 [(buf.validate.field).int64 = {gt: 0, lt: 1000000}];
  // A signature.
  bytes signature = 3;
  // When it was placed.
  google.protobuf.Timestamp placed_at = 4 [(buf.validate.field).timestamp.lt_now = true];
  // How long it stays open.
  google.protobuf.Duration ttl = 5 [(buf.validate.field).duration = {gte: {seconds: 1}, lte: {seconds: 3600, nanos: 500000000}}];
  // Free-form metadata.
  google.protobuf.Struct meta = 6;
  // Anything.
  google.protobuf.Value extra = 7;
  // Counts by SKU.
  map<string, int64> counts = 8 [(buf.validate.field).map.max_pairs = 10];
  // Lines by number.
  map<int32, Line> lines_by_no = 9;
  // Past states.
  repeated Status history = 10 [(buf.validate.field).repeated = {min_items: 1, unique: true}];
  // How it is paid.
  oneof payment {
    // By card.
    Card card = 11;
    // By voucher code.
    string voucher = 12 [(buf.validate.field).string.len = 8];
  }
  // The kind of its first line.
  Line.Kind kind = 13;
  // Fields to update.
  google.protobuf.FieldMask mask = 14;
  // A big number.
  google.protobuf.Int64Value big = 15;
  // Weight in grams.
  optional uint64 weight = 16;
  // A lookup table.
  Map lookup = 17;
  // Contact address.
  string email = 18 [(buf.validate.field).string.email = true];
  // Odd ratio, outside 5..10.
  double ratio = 19 [(buf.validate.field).double = {gt: 10, lt: 5}];
  // A code.
  string code = 20 [(buf.validate.field).string = {in: ["a", "b"]}];
  // An even number.
  int32 even = 21 [(buf.validate.field).cel = {id: "even", message: "must be even", expression: "this % 2 == 0"}];
  // A backup card.
  Card backup = 22 [(buf.validate.field).required = true];
  // A nickname, checked only when given.
  string nickname = 23 [(buf.validate.field).string.min_len = 3, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  // A line of the stock package.
  acme.stock.v1.Line stock_line = 24;
}

// A line.
message Line {
  // Line kinds.
  enum Kind {
    // Unknown.
    KIND_UNSPECIFIED = 0;
    // Goods.
    KIND_GOODS = 1;
  }
  // Its number.
  int32 no = 1;
}

// Shadows the ES Map.
message Map {
  // A key.
  string key = 1;
}

// A card.
message Card {
  // Sixteen digits.
  string number = 1 [(buf.validate.field).string.pattern = "^[0-9]{16}$"];
}

// A chunk.
message Chunk {
  // Bytes.
  bytes data = 1;
}
`;

const stock = `syntax = "proto3";

package acme.stock.v1;

// Counts stock.
service InventoryService {
  // Counts a line.
  rpc Count(Line) returns (Line);
}

// A stock line (same short name as acme.shop.v1.Line).
message Line {
  // How many.
  uint32 quantity = 1;
}
`;

let image: Image;
let surface: SandboxSurface;

beforeAll(() => {
  image = buildAdHocImage({ "acme/shop/v1/shop.proto": shop, "acme/stock/v1/stock.proto": stock });
  surface = generateSandboxSurface(filesUnder(image.registry, "acme/"), {
    names: { "acme.stock.v1.InventoryService": "stock" },
  });
}, 60_000);

/** Whether a declaration block has a property line, at any indentation. */
function hasProperty(text: string, line: string): boolean {
  return new RegExp(`\\n\\s+${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`).test(text);
}

function block(name: string): string {
  const d = surface.declarations;
  const start = d.search(new RegExp(`^(interface|type) ${name}\\b`, "m"));
  expect(start, `declaration of ${name}`).toBeGreaterThan(0);
  return d.slice(d.lastIndexOf("\n\n", start), d.indexOf("\n\n", start));
}

// Each compile builds a fresh TypeScript program (seconds on a busy machine).
describe("generateSandboxSurface on ad-hoc descriptors", { timeout: 60_000 }, () => {
  it("compiles under strict TypeScript", () => {
    expect(compileDiagnostics(surface.declarations)).toEqual([]);
  });

  it("exposes services by rule and option, never SandboxService, and only unary and server-streaming methods", () => {
    // In the order of the input files (stock.proto is a dependency of shop.proto).
    expect(surface.services.map((s) => s.property)).toEqual(["stock", "order"]);
    expect(surface.services[1]?.methods.map((m) => `${m.name}:${m.kind}`)).toEqual([
      "placeOrder:unary",
      "watch:server_stream_collected",
    ]);
    expect(surface.declarations).not.toContain("SandboxService");
    expect(surface.declarations).not.toContain("upload(");
    expect(surface.declarations).toContain("  placeOrder(request: OrderInput): Promise<Order>;");
    expect(surface.declarations).toContain("  watch(request?: { [key: string]: never }): Promise<Order[]>;");
    expect(surface.declarations).toContain(
      "  count(request?: AcmeStockV1LineInput): Promise<AcmeStockV1Line>;",
    );
  });

  it("qualifies names that clash with each other or with the ES library", () => {
    expect(block("AcmeShopV1Line")).toContain("no: number;");
    expect(block("AcmeShopV1LineInput")).toContain("no?: number;");
    expect(block("AcmeStockV1Line")).toContain("quantity: number;");
    expect(block("AcmeShopV1Map")).toContain("key: string;");
    expect(block("Line_Kind")).toContain('| "KIND_GOODS"');
    expect(hasProperty(block("OrderInput"), "lookup?: AcmeShopV1MapInput;")).toBe(true);
  });

  it("writes well-known types, bytes, maps and 64-bit integers in their JSON form", () => {
    const input = block("OrderInput");
    expect(hasProperty(input, "totalCents: string | number;")).toBe(true);
    expect(input).toMatch(/Base64-encoded bytes.\n\s+\*\/\n\s+signature\?: string;/);
    expect(input).toContain('An RFC 3339 timestamp, such as "2024-05-01T12:00:00Z".');
    expect(hasProperty(input, "placedAt?: string;")).toBe(true);
    expect(input).toContain('A duration in seconds with an "s" suffix');
    expect(hasProperty(input, "ttl?: string;")).toBe(true);
    expect(hasProperty(input, "meta?: { [key: string]: JsonValue };")).toBe(true);
    expect(hasProperty(input, "extra?: JsonValue;")).toBe(true);
    expect(hasProperty(input, "counts?: { [key: string]: string | number };")).toBe(true);
    expect(input).toContain("Keys are integers written as decimal strings.");
    expect(hasProperty(input, "linesByNo?: { [key: string]: AcmeShopV1LineInput };")).toBe(true);
    expect(hasProperty(input, "history: Status[];")).toBe(true);
    expect(hasProperty(input, "kind?: Line_Kind;")).toBe(true);
    expect(hasProperty(input, "mask?: string;")).toBe(true);
    expect(hasProperty(input, "big?: string | number;")).toBe(true);
    expect(hasProperty(input, "weight?: string | number;")).toBe(true);
    const output = block("Order");
    expect(hasProperty(output, "totalCents: string;")).toBe(true);
    expect(hasProperty(output, "counts: { [key: string]: string };")).toBe(true);
    expect(hasProperty(output, "weight?: string;")).toBe(true);
    expect(hasProperty(output, "placedAt?: string;")).toBe(true);
    expect(output).not.toContain("Rules:");
    expect(output).toContain("card: Card;");
    expect(input).toContain("card: CardInput;");
  });

  it("renders the rules of many kinds in words and derives required fields from them", () => {
    const input = block("OrderInput");
    const rule = (field: string) => new RegExp(`Rules: ([^\\n]*)\\n(?: +\\*.*\\n)*? +\\*/\\n +${field}[?:]`).exec(input)?.[1];
    expect(rule("id")).toBe("required; must be a UUID.");
    expect(hasProperty(input, "id: string;")).toBe(true);
    expect(rule("totalCents")).toBe("required; > 0 and < 1000000.");
    expect(rule("placedAt")).toBe("must be in the past.");
    expect(rule("ttl")).toBe('≥ "1s" and ≤ "3600.5s".');
    expect(rule("counts")).toBe("at most 10 entries.");
    expect(rule("history")).toBe("required; at least 1 item; items must be unique.");
    expect(rule("voucher")).toBe("exactly 8 characters.");
    expect(rule("email")).toBe("required; must be an email address.");
    // 0 lies outside 5..10, so the zero value passes and the field stays optional.
    expect(rule("ratio")).toBe("< 5 or > 10.");
    expect(rule("code")).toBe('required; one of "a", "b".');
    expect(rule("even")).toBe("must be even.");
    expect(rule("backup")).toBe("required.");
    expect(hasProperty(input, "backup: CardInput;")).toBe(true);
    expect(rule("nickname")).toBe("at least 3 characters; checked only when set.");
    expect(hasProperty(input, "nickname?: string;")).toBe(true);
    expect(block("CardInput")).toContain("Rules: required; must match /^[0-9]{16}$/.");
  });

  it("writes an optional oneof as a union with an all-absent variant", () => {
    const input = block("OrderInput");
    expect(input).toContain("At most one of `card`, `voucher` is set.");
    expect(input).toMatch(/& \(\n {4}\| \{\n/);
    expect(input).toMatch(/ {8}card: CardInput;\n {8}voucher\?: never;/);
    expect(input).toMatch(/ {8}card\?: never;\n {8}voucher\?: never;\n {6}\}/);
    const usage = `
      async function main() {
        await gateway.order.placeOrder({ id: "x", totalCents: 1, history: ["STATUS_OPEN"], email: "a@b.c", ratio: 11, code: "a", backup: { number: "1234567812345678" }, card: { number: "1" } });
        await gateway.order.placeOrder({ id: "x", totalCents: "1", history: ["STATUS_OPEN"], email: "a@b.c", ratio: 11, code: "a", backup: { number: "1" } });
        const orders = await gateway.order.watch();
        return orders.map((o) => o.card?.number ?? o.voucher);
      }
      export {};`;
    expect(compileDiagnostics(surface.declarations, usage)).toEqual([]);
    const both = `
      async function main() {
        await gateway.order.placeOrder({ id: "x", totalCents: 1, history: [], email: "", ratio: 11, code: "a", backup: { number: "1" }, card: { number: "1" }, voucher: "12345678" });
      }
      export {};`;
    expect(compileDiagnostics(surface.declarations, both)).toHaveLength(1);
  });

  it("documents services and methods in the docs index", () => {
    const paths = surface.docs.entries.map((e) => e.path);
    expect(paths).toContain("gateway.order");
    expect(paths).toContain("gateway.order.watch");
    expect(paths).toContain("gateway.stock.count");
    expect(paths).toContain("OrderInput.totalCents");
    expect(paths).toContain("Order.totalCents");
    expect(paths).not.toContain("gateway.order.upload");
  });
});

describe("service selection", () => {
  const files = () => filesUnder(image.registry, "acme/");

  it("exposes exactly the included services", () => {
    const only = generateSandboxSurface(files(), { include: ["acme.stock.v1.InventoryService"] });
    expect(only.services.map((s) => s.property)).toEqual(["inventory"]);
    expect(only.declarations).not.toContain("OrderService");
  });

  it("leaves out excluded services", () => {
    const rest = generateSandboxSurface(files(), { exclude: ["acme.shop.v1.OrderService"] });
    expect(rest.services.map((s) => s.property)).toEqual(["inventory"]);
  });

  it("never exposes a SandboxService, even when included", () => {
    const s = generateSandboxSurface(files(), { include: ["acme.shop.v1.SandboxService", "acme.shop.v1.OrderService"] });
    expect(s.services.map((x) => x.property)).toEqual(["order"]);
  });

  it("throws on configuration errors", () => {
    expect(() => generateSandboxSurface(files(), { include: ["acme.shop.v1.Nope"] })).toThrow(/not in the input/);
    expect(() => generateSandboxSurface(files(), { names: { "acme.shop.v1.OrderService": "inventory" } })).toThrow(
      /would both be gateway.inventory/,
    );
    expect(() => generateSandboxSurface(files(), { names: { "acme.shop.v1.OrderService": "not-an-id" } })).toThrow(
      /not an identifier/,
    );
  });
});
