import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { destinationWorkflowId } from '../domain/destinationWorkflowId';
import type { Store } from '../store/store';
import { profilesChangedSignal } from '../workflows/messages';
import type { ProfilesChanged } from '../workflows/messages';

/** How long telling the destinations may take before the writes count as stored, not announced. */
export const ANNOUNCE_TIMEOUT_MS = 5000;

/**
 * Rounds of signals of one ingest start at least this far apart: a destination hears at most ten
 * times a second from one feed however fast it is written, which bounds its history events.
 */
const MIN_ROUND_INTERVAL_MS = 100;

/**
 * Signals `profilesChanged` to each destination, all at once, within `timeoutMs`; returns those
 * told. A destination whose actor is gone (deleted) is left out; any other failure rejects.
 */
export async function tellDestinations(
  client: Client,
  destinationIds: readonly string[],
  change: ProfilesChanged,
  timeoutMs = ANNOUNCE_TIMEOUT_MS,
): Promise<string[]> {
  const told = await client.withDeadline(Date.now() + timeoutMs, () =>
    Promise.all(
      destinationIds.map(async (id) => {
        try {
          await client.workflow.getHandle(destinationWorkflowId(id)).signal(profilesChangedSignal, change);
          return id;
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return null;
          throw err;
        }
      }),
    ),
  );
  return told.filter((id): id is string => id !== null);
}

/** Why destinations could not be told, as one line. */
export function announceFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (
    `Temporal did not take the signals (${message.split('\n')[0]}); ` +
    'the worker tells the destinations once Temporal answers'
  );
}

/**
 * The announcements of one ingest: each written batch adds its concerned destinations and its
 * outbox entry; while one round of signals is in flight the next batches coalesce into one
 * signal per destination. A failed round keeps what it had for the next round and leaves the
 * outbox entries in place, so the worker's announcer tells the destinations later.
 */
export class AnnouncementQueue {
  readonly told = new Set<string>();
  private destinations = new Set<string>();
  private writes: number[] = [];
  private seq = 0;
  private failure: string | null = null;
  private draining: Promise<void> | null = null;
  private lastRoundAt = 0;

  constructor(
    private readonly client: Client,
    private readonly store: Store,
  ) {}

  /** A write ending at `lastSeq` (its outbox entry) changed profiles that concern `destinations`. */
  add(destinations: Iterable<string>, lastSeq: number): void {
    for (const id of destinations) this.destinations.add(id);
    this.writes.push(lastSeq);
    this.seq = Math.max(this.seq, lastSeq);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Waits for the rounds in flight and tries once more what failed: null, or why destinations were not told. */
  async settle(): Promise<string | null> {
    await this.draining;
    if (this.writes.length > 0) {
      this.add([], this.seq);
      await this.draining;
    }
    return this.writes.length > 0 ? this.failure : null;
  }

  private async drain(): Promise<void> {
    while (this.writes.length > 0) {
      const wait = this.lastRoundAt + MIN_ROUND_INTERVAL_MS - Date.now();
      if (wait > 0) await delay(wait);
      this.lastRoundAt = Date.now();
      const destinations = [...this.destinations];
      const writes = this.writes;
      // count 0: a signal arriving after the page that already read these changes would leave
      // them counted as pending; the destination's pages count what is pending instead.
      const change = { seq: this.seq, count: 0 };
      this.destinations = new Set();
      this.writes = [];
      try {
        for (const id of await tellDestinations(this.client, destinations, change)) this.told.add(id);
        await this.store.markAnnounced(writes);
        this.failure = null;
      } catch (err) {
        for (const id of destinations) this.destinations.add(id);
        this.writes.unshift(...writes);
        this.failure = announceFailure(err);
        return;
      }
    }
  }
}
