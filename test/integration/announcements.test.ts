import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { tsToMs } from '@temporalio/common/lib/time';
import { Announcer } from '../../src/client/announcer';
import type { ActivationClient } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { waitFor } from '../../src/embedded/waitFor';
import { readAllRecords } from '../support/kinesisStream';
import { emulatorDestination } from '../support/destinations';
import { useKinesisFixture } from '../support/kinesisFixture';
import { profile, recordsPerProfile, statusesOf } from '../support/profiles';
import { withWorker } from '../support/temporal';

const quiet = { info: () => undefined, warn: () => undefined };

const ndjson = (items: ReturnType<typeof profile>[]): Readable =>
  Readable.from(items.map((p) => `${JSON.stringify(p.snapshot)}\n`));

describe('announcements: only the destinations a change concerns are told, and nothing stays unannounced', function () {
  this.timeout(180_000);
  const fx = useKinesisFixture('announcements');

  const destination = (client: ActivationClient, segment: string) =>
    emulatorDestination(client, fx.kinesis, fx.emulator.endpoint, {
      segments: [{ id: segment }],
      attributes: ['person.email'],
    });

  async function signalsTo(client: ActivationClient, id: string): Promise<number> {
    const history = await client.client.workflow.getHandle(destinationWorkflowId(id)).fetchHistory();
    return (history.events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'profilesChanged',
    ).length;
  }

  it('signals the destinations mapping a segment of the batch or holding its profiles, and no other', async () => {
    await withWorker(fx.store, async ({ client }) => {
      const p = randomUUID();
      const concerned = await destination(client, `${p}-a`);
      const others = await Promise.all([destination(client, `${p}-b`), destination(client, `${p}-c`)]);

      const entered = await client.ingest(
        ndjson([profile(`${p}-1`, { [`${p}-a`]: 'realized', [`${p}-x`]: 'realized' })]),
      );
      assert.deepEqual(entered.notified, [concerned.id]);
      await waitFor(async () => (await readAllRecords(fx.kinesis, concerned.stream)).length === 1, {
        timeoutMs: 30_000,
        what: 'the entry record',
      });
      // It left the only mapped segment: only its ledger names the destination now.
      const exited = await client.ingest(ndjson([profile(`${p}-1`, { [`${p}-x`]: 'realized' })]));
      assert.deepEqual(exited.notified, [concerned.id]);
      const records = await waitFor(
        async () => {
          const read = await readAllRecords(fx.kinesis, concerned.stream);
          return read.length === 2 ? read : undefined;
        },
        { timeoutMs: 30_000, what: 'the exit record' },
      );
      assert.deepEqual(statusesOf(records[1] ?? assert.fail()), { [`${p}-a`]: 'exited' });
      // A profile in no mapped segment and never exported concerns no one.
      const nobody = await client.ingest(ndjson([profile(`${p}-2`, { [`${p}-x`]: 'realized' })]));
      assert.deepEqual(nobody.notified, []);
      assert.equal(nobody.unannounced, null);
      for (const other of others) assert.equal(await signalsTo(client, other.id), 0, `signals to ${other.id}`);
      assert.equal(await signalsTo(client, concerned.id), 2);
    });
  });

  it('tells the destinations of each batch once it is written, before an input already in memory ends', async () => {
    await withWorker(fx.store, async ({ client }) => {
      const p = randomUUID();
      const concerned = await destination(client, `${p}-a`);
      // Three batches of the ingest's 5,000 lines; only the first line concerns the destination.
      const lines = 15_000;
      let lastLineReadAt = 0;
      const input = Readable.from(
        (function* () {
          for (let i = 0; i < lines; i++) {
            if (i === lines - 1) lastLineReadAt = Date.now();
            const segment = i === 0 ? `${p}-a` : `${p}-x`;
            yield `${JSON.stringify(profile(`${p}-${i}`, { [segment]: 'realized' }).snapshot)}\n`;
          }
        })(),
      );
      const ingested = await client.ingest(input);
      assert.deepEqual(ingested.notified, [concerned.id]);
      const history = await client.client.workflow.getHandle(destinationWorkflowId(concerned.id)).fetchHistory();
      const told = (history.events ?? []).find(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'profilesChanged',
      );
      assert.ok(told, 'the destination was told');
      // Both clocks are this machine's: the server's event time and the test's.
      assert.ok(
        tsToMs(told.eventTime) < lastLineReadAt,
        `told ${tsToMs(told.eventTime) - lastLineReadAt} ms after the last line was read, not before`,
      );
    });
  });

  it("tells the destinations of a write whose client died before signalling, from the worker's announcer", async () => {
    await withWorker(fx.store, async ({ client }) => {
      const p = randomUUID();
      const { stream } = await destination(client, `${p}-a`);
      // A client that died between its commit and its signals: the write is stored, no one is told.
      await fx.store.upsertProfiles([profile(`${p}-1`, { [`${p}-a`]: 'realized' }, { person: { email: 'x@y' } })]);
      const announcer = new Announcer(client.client, fx.store, quiet, { intervalMs: 200, graceMs: 500 });
      announcer.start();
      try {
        const records = await waitFor(
          async () => {
            const read = await readAllRecords(fx.kinesis, stream);
            return read.length > 0 ? read : undefined;
          },
          { timeoutMs: 30_000, what: 'the record of the write no one announced' },
        );
        assert.equal(recordsPerProfile(records, [`${p}-1`]).get(`${p}-1`)?.length, 1);
        await waitFor(async () => (await fx.store.unannouncedWrites(0)).length === 0, {
          timeoutMs: 10_000,
          what: 'the outbox to empty',
        });
      } finally {
        await announcer.stop();
      }
    });
  });
});
