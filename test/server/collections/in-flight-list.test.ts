import { describe, expect, it } from "vitest";
import { type InFlightEntry, InFlightList } from "../../../server/collections/in-flight-list.js";

describe("InFlightList", () => {
  it("keeps values oldest first and shifts the oldest", () => {
    const list = new InFlightList<string>();
    list.add("a");
    list.add("b");
    list.add("c");
    expect(list.size).toBe(3);
    expect(list.shift()).toBe("a");
    expect(list.values()).toEqual(["b", "c"]);
    expect(list.size).toBe(2);
  });

  it("removes the first, a middle and the last entry and keeps the rest linked in order", () => {
    const list = new InFlightList<string>();
    const [a, , c, , e] = ["a", "b", "c", "d", "e"].map((value) => list.add(value));
    list.remove(c as InFlightEntry);
    expect(list.values()).toEqual(["a", "b", "d", "e"]);
    list.remove(a as InFlightEntry);
    expect(list.values()).toEqual(["b", "d", "e"]);
    list.remove(e as InFlightEntry);
    expect(list.values()).toEqual(["b", "d"]);
    list.add("f");
    expect(list.values()).toEqual(["b", "d", "f"]);
    expect(list.shift()).toBe("b");
    expect(list.shift()).toBe("d");
    expect(list.shift()).toBe("f");
    expect(list.shift()).toBeUndefined();
    expect(list.size).toBe(0);
  });

  it("ignores a second removal, the removal of a shifted entry and an entry of another list", () => {
    const list = new InFlightList<string>();
    const other = new InFlightList<string>();
    const a = list.add("a");
    const b = list.add("b");
    const foreign = other.add("x");
    list.remove(a);
    list.remove(a);
    expect(list.values()).toEqual(["b"]);
    expect(list.shift()).toBe("b");
    list.remove(b);
    expect(list.size).toBe(0);
    list.remove(foreign);
    expect(other.values()).toEqual(["x"]);
    expect(foreign.inList).toBe(true);
    expect(b.inList).toBe(false);
  });

  it("removeAll empties the list oldest first, and the list is usable afterwards", () => {
    const list = new InFlightList<number>();
    const entries = [1, 2, 3].map((value) => list.add(value));
    expect(list.removeAll()).toEqual([1, 2, 3]);
    expect(list.size).toBe(0);
    expect(entries.every((entry) => !entry.inList)).toBe(true);
    list.add(4);
    expect(list.values()).toEqual([4]);
  });

  // The reason the list exists: a dead entry must keep neither its value nor its neighbours alive.
  it("leaves a removed, shifted or cleared entry holding no reference to its value, its neighbours or the list", () => {
    const list = new InFlightList<{ readonly id: number }>();
    const [shifted, removed, cleared] = [1, 2, 3, 4].map((id) => list.add({ id })) as [InFlightEntry, InFlightEntry, InFlightEntry];
    list.remove(removed);
    list.shift();
    list.add({ id: 5 });
    list.removeAll();
    for (const entry of [shifted, removed, cleared]) {
      expect(Object.values(entry).filter((held: unknown) => held !== undefined)).toEqual([]);
    }
  });
});
