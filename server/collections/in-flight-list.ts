/**
 * A long-lived list of short-lived things: the calls running now, the
 * requests waiting for a slot, the open connections. Entries come and go
 * at the rate of requests; the list itself lives as long as the server.
 *
 * Why not a `Set`: V8 keeps a `Set`'s (or `Map`'s) entries in a hash
 * table that it replaces by a new one every time deletions and additions
 * fill it up. The replaced table is left pointing to its successor and
 * still holds the entries it had, and once the collection lives in the
 * old generation V8 allocates each new table there too. Every replaced
 * table is then old garbage that the young-generation collector must
 * treat as alive until the next full collection, so each entry that was
 * in it when it was replaced — a whole call: its request, response,
 * headers and parsed message — survives two scavenges and is copied to
 * the old generation. For the `Set` of running calls this was about
 * 5 KB promoted per request at concurrency 32 and an eighth of the server's
 * CPU spent in the garbage collector (docs/benchmarks.md, "What the
 * garbage collector kept").
 *
 * Here an entry is a node of a doubly linked list, and a removed node
 * forgets its neighbours and its value, so a dead node, wherever it
 * lives, keeps nothing else alive.
 *
 * @example
 * const running = new InFlightList<Call>();
 * const entry = running.add(call);
 * try { … } finally { running.remove(entry); }
 * for (const call of running.removeAll()) call.abort(reason); // shutdown
 */
export class InFlightList<T extends NonNullable<unknown>> {
  #oldest: Node<T> | undefined;
  #newest: Node<T> | undefined;
  #size = 0;

  /** How many entries are in the list. */
  get size(): number {
    return this.#size;
  }

  /** Appends `value` (the newest entry) and returns the handle that removes it. */
  add(value: T): InFlightEntry {
    const node = new Node(this, value);
    if (this.#newest === undefined) this.#oldest = node;
    else {
      this.#newest.next = node;
      node.previous = this.#newest;
    }
    this.#newest = node;
    this.#size += 1;
    return node;
  }

  /** Removes the entry; removing it again, or after `shift`/`removeAll` took it, does nothing. */
  remove(entry: InFlightEntry): void {
    // Only `add` makes entries, so an entry of this list is one of its nodes.
    if (entry instanceof Node && entry.list === this) this.#detach(entry as Node<T>);
  }

  /** Removes and returns the oldest value; undefined when the list is empty. */
  shift(): T | undefined {
    return this.#oldest === undefined ? undefined : this.#detach(this.#oldest);
  }

  /** Removes every entry and returns their values, oldest first. */
  removeAll(): T[] {
    const values: T[] = [];
    while (this.#oldest !== undefined) values.push(this.#detach(this.#oldest));
    return values;
  }

  /** The values, oldest first, without removing them. */
  values(): T[] {
    const values: T[] = [];
    for (let node = this.#oldest; node !== undefined; node = node.next) values.push(node.value as T);
    return values;
  }

  /** Unlinks a node of this list and clears its references; returns its value. */
  #detach(node: Node<T>): T {
    const value = node.value as T;
    if (node.previous === undefined) this.#oldest = node.next;
    else node.previous.next = node.next;
    if (node.next === undefined) this.#newest = node.previous;
    else node.next.previous = node.previous;
    node.list = undefined;
    node.previous = undefined;
    node.next = undefined;
    node.value = undefined;
    this.#size -= 1;
    return value;
  }
}

/** The handle of one entry, for `remove`. It holds nothing once the entry is out of the list. */
export interface InFlightEntry {
  /** Whether the entry is still in its list. */
  readonly inList: boolean;
}

/** One node of the list; every reference it holds is dropped when it leaves. */
class Node<T extends NonNullable<unknown>> implements InFlightEntry {
  previous: Node<T> | undefined = undefined;
  next: Node<T> | undefined = undefined;

  constructor(
    public list: InFlightList<T> | undefined,
    public value: T | undefined,
  ) {}

  get inList(): boolean {
    return this.list !== undefined;
  }
}
