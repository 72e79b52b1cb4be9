import type { Clock } from '../../src/kinesis/clock';

/** A manual clock: time moves only when a test advances it, firing due timers in order. */
export class FakeClock implements Clock {
  private time = 0;
  private nextId = 0;
  private timers: { id: number; at: number; callback: () => void }[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.timers.push({ id, at: this.time + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.callback();
      await settle();
    }
    this.time = target;
    await settle();
  }
}

/** Lets resolved promises run their continuations. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
