import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { createKinesisClient } from '../../src/kinesis/client';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { startKinesisFaultProxy } from './kinesisFaultProxy';
import type { KinesisFaultProxy, KinesisFaults } from './kinesisFaultProxy';
import { createStream } from './kinesisStream';

/** What a suite of end-to-end tests shares: a temp dir, kinesalite (optionally behind the fault proxy), a client of it and a SQLite store. */
export interface KinesisFixture {
  dir: string;
  emulator: KinesisEmulator;
  kinesis: KinesisClient;
  store: Store;
  /** Present when asked for: the endpoint destinations use to get faults injected. */
  proxy: KinesisFaultProxy;
}

/**
 * Registers mocha `before`/`after` hooks that start and stop the fixture; its fields are set
 * once `before` ran. `streams` are created up front (name -> shard count); `proxy` may carry
 * the faults it starts with.
 */
export function useKinesisFixture(
  prefix: string,
  options: { proxy?: boolean | Partial<KinesisFaults>; streams?: Record<string, number> } = {},
): KinesisFixture {
  const fixture = {} as KinesisFixture;
  before(async () => {
    fixture.dir = mkdtempSync(join(tmpdir(), `ka-${prefix}-`));
    fixture.emulator = await startKinesisEmulator();
    if (options.proxy)
      fixture.proxy = await startKinesisFaultProxy(
        fixture.emulator.endpoint,
        options.proxy === true ? {} : options.proxy,
      );
    fixture.kinesis = createKinesisClient({
      region: 'us-east-1',
      endpoint: fixture.emulator.endpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    for (const [name, shards] of Object.entries(options.streams ?? {}))
      await createStream(fixture.kinesis, name, shards);
    fixture.store = await openStore(join(fixture.dir, 'store.sqlite'));
  });
  after(async () => {
    fixture.kinesis?.destroy();
    await fixture.store?.close();
    await fixture.proxy?.stop();
    await fixture.emulator?.stop();
    if (fixture.dir) rmSync(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}
