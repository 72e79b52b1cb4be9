/**
 * The writer's queue: items leave lowest position first, and an item whose profile already has
 * one taken and not completed waits behind it. So records of one profile are never in flight
 * together and are acknowledged in input order, while other profiles' records go around them.
 * Pure logic: no timers, no I/O.
 */
export class ProfileQueue<T> {
  /** Added items not yet taken, from `cursor` on (the taken prefix is dropped now and then). */
  private fresh: Queued<T>[] = [];
  private cursor = 0;
  private added = 0;
  /** Items given back (to go again before fresh ones of higher position), sorted by position. */
  private readonly ready: Queued<T>[] = [];
  /** Later items of a busy profile, in order, waiting for the earlier one's completion. */
  private readonly blocked = new Map<string, Queued<T>[]>();
  /** Profiles with an item taken and not completed (in flight, backing off, or given back). */
  private readonly busy = new Set<string>();
  /** Positions of the items taken and not completed (each item is a distinct object). */
  private readonly positions = new Map<T, number>();
  private pending = 0;

  constructor(private readonly profileOf: (item: T) => string) {}

  /** Items added and not completed. */
  get outstanding(): number {
    return this.pending;
  }

  add(item: T): void {
    if (this.cursor > 0 && this.cursor >= this.fresh.length / 2) {
      this.fresh = this.fresh.slice(this.cursor);
      this.cursor = 0;
    }
    this.fresh.push({ item, position: this.added++ });
    this.pending += 1;
  }

  /**
   * Takes free items lowest position first while `accept` accepts them (it sees each candidate
   * once; the first one refused stays at the head). Their profiles are busy until `complete`.
   */
  take(accept: (item: T) => boolean): T[] {
    const taken: T[] = [];
    for (;;) {
      const next = this.peek();
      if (next === undefined || !accept(next.queued.item)) return taken;
      if (next.fromReady) this.ready.shift();
      else {
        this.cursor += 1;
        this.busy.add(this.profileOf(next.queued.item));
      }
      this.positions.set(next.queued.item, next.queued.position);
      taken.push(next.queued.item);
    }
  }

  /** Gives taken items back to go again, before later items; their profiles stay busy meanwhile. */
  giveBack(items: readonly T[]): void {
    for (const item of items) this.insertReady({ item, position: this.positionOf(item) });
  }

  /** A taken item is done: it frees its profile for the profile's next item, if any. */
  complete(item: T): void {
    if (!this.positions.delete(item)) throw new Error('item was not taken from this queue');
    this.pending -= 1;
    const profile = this.profileOf(item);
    const queue = this.blocked.get(profile);
    const next = queue?.shift();
    if (next === undefined) this.busy.delete(profile);
    else {
      if (queue?.length === 0) this.blocked.delete(profile);
      this.insertReady(next);
    }
  }

  private positionOf(item: T): number {
    const position = this.positions.get(item);
    if (position === undefined) throw new Error('item was not taken from this queue');
    return position;
  }

  private peek(): { queued: Queued<T>; fromReady: boolean } | undefined {
    let fresh = this.fresh[this.cursor];
    // A fresh item of a busy profile waits behind that profile's earlier item.
    while (fresh !== undefined && this.busy.has(this.profileOf(fresh.item))) {
      const profile = this.profileOf(fresh.item);
      const queue = this.blocked.get(profile);
      if (queue) queue.push(fresh);
      else this.blocked.set(profile, [fresh]);
      this.cursor += 1;
      fresh = this.fresh[this.cursor];
    }
    const ready = this.ready[0];
    if (ready !== undefined && (fresh === undefined || ready.position < fresh.position))
      return { queued: ready, fromReady: true };
    return fresh === undefined ? undefined : { queued: fresh, fromReady: false };
  }

  private insertReady(queued: Queued<T>): void {
    let low = 0;
    let high = this.ready.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.ready[mid] as Queued<T>).position < queued.position) low = mid + 1;
      else high = mid;
    }
    this.ready.splice(low, 0, queued);
  }
}

interface Queued<T> {
  item: T;
  /** Order of addition: lower goes first. */
  position: number;
}
