import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Store } from '../store/store';
import { announceFailure, tellDestinations } from './announcements';
import { purgeErased } from './erasure';

export interface AnnouncerOptions {
  /** Time between rounds. */
  intervalMs?: number;
  /** A write younger than this is left to its writer, which normally announces it itself. */
  graceMs?: number;
}

/**
 * Tells destinations of committed writes that no one announced (a client died between commit
 * and signals, or Temporal was unreachable), and finishes erasures whose exits went out. Runs in
 * the worker process, not in workflow code: at start and every `intervalMs` it reads the store's
 * announcement outbox, signals the destinations the unannounced writes concern (one signal per
 * destination for all of them) and marks them announced; a failed round is retried next round.
 * Several workers sharing one store may announce the same write twice: a signal is idempotent.
 */
export class Announcer {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | null = null;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly graceMs: number;

  constructor(
    private readonly client: Client,
    private readonly store: Store,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
    options: AnnouncerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 2000;
    this.graceMs = options.graceMs ?? 2000;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /** One round: announce what is due, then purge the erased profiles that owe no exit. */
  async announceDue(): Promise<void> {
    const writes = await this.store.unannouncedWrites(this.graceMs);
    if (writes.length > 0) {
      const fromSeq = Math.min(...writes.map((w) => w.firstSeq));
      const toSeq = Math.max(...writes.map((w) => w.lastSeq));
      const destinations = await this.store.destinationsConcerned({ fromSeq, toSeq });
      const told = await tellDestinations(this.client, destinations, { seq: toSeq, count: 0 });
      await this.store.markAnnounced(writes.map((w) => w.lastSeq));
      this.logger.info({ fromSeq, toSeq, destinations: told.length }, 'announced unannounced profile changes');
    }
    const { purged } = await purgeErased(this.store);
    if (purged.length > 0) this.logger.info({ profiles: purged.length }, 'purged erased profiles');
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.announceDue()
        .catch((err: unknown) => this.logger.warn({ reason: announceFailure(err) }, 'announcer round failed'))
        .finally(() => {
          this.round = null;
          this.schedule(this.intervalMs);
        });
    }, delayMs);
  }
}
