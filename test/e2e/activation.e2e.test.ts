import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { profileIdHash } from '../../src/domain/partitionKey';
import { waitFor } from '../../src/embedded/waitFor';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import type { DestinationStatus } from '../../src/workflows/messages';
import { counters } from '../support/counters';
import { emulatorCreateArgs, runCli } from '../support/cli';
import { readAllRecords } from '../support/kinesisStream';
import type { StoredRecord } from '../support/kinesisStream';
import { useKinesisFixture } from '../support/kinesisFixture';
import { getWorkflowBundleWithoutZod, historiesOfEveryRun, processEnv, withWorker } from '../support/temporal';

const FIXTURE = resolve(__dirname, '..', 'fixtures', 'e2e-profiles.ndjson');
const ROUND_2 = resolve(__dirname, '..', 'fixtures', 'e2e-profiles-round2.ndjson');
const STREAM = 'e2e-activation';

const ANN_IDENTITIES = {
  ecid: [{ id: '14575006536349286404619648085736425115' }],
  email_lc_sha256: [{ id: '655332b5fa2aea4498bf7a290cff017cb4' }],
};
const BOB = 'email_lc_sha256:66baf76ef9de8b42df8903f00e0e3dc0b7';

/** What the fixture must produce, keyed by profile id: exactly these records, in the seed's shape. */
const EXPECTED: Record<string, unknown> = {
  'p-ann': {
    person: { email: 'yourstruly@adobe.com', name: { firstName: 'Ann' } },
    segmentMembership: {
      ups: {
        'seg-propensity': {
          lastQualificationTime: '2020-05-25T21:24:39Z',
          status: 'realized',
          name: 'High propensity to convert',
        },
      },
    },
    identityMap: ANN_IDENTITIES,
  },
  [BOB]: {
    person: { email: 'bob@example.com' },
    segmentMembership: {
      ups: {
        'seg-propensity': {
          lastQualificationTime: '2020-05-25T23:37:33Z',
          status: 'realized',
          name: 'High propensity to convert',
        },
        'seg-churn': { lastQualificationTime: '2021-01-02T03:04:05Z', status: 'realized' },
      },
    },
    identityMap: {
      email_lc_sha256: [{ id: '66baf76ef9de8b42df8903f00e0e3dc0b7' }],
      ecid: [{ id: '66478888669296734530114754794777368480' }],
    },
  },
  'p-eve': {
    segmentMembership: { ups: { 'seg-churn': { lastQualificationTime: '2022-02-02T02:02:02Z', status: 'realized' } } },
    identityMap: { ECID: [{ id: '555' }], phone_sha256: [{ id: 'abc' }, { id: 'def' }] },
  },
  'p-gus': {
    person: { email: 'gus@example.com', name: { firstName: 'Gus' } },
    segmentMembership: { ups: { 'seg-churn': { lastQualificationTime: '2023-03-03T03:03:03Z', status: 'realized' } } },
    identityMap: { ecid: [{ id: '777' }] },
  },
};

/**
 * What the second round must add, and nothing else: p-dora (unmapped attribute, still outside
 * every mapped segment) and p-gus (unmapped attribute and unmapped segment) send nothing; p-frank's
 * two changes in one round become one record with the newest state.
 */
const EXPECTED_ROUND_2: Record<string, unknown> = {
  // A mapped attribute changed (firstName; lastName and the unmapped segment's exit do not count).
  'p-ann': {
    person: { email: 'yourstruly@adobe.com', name: { firstName: 'Anna' } },
    segmentMembership: {
      ups: {
        'seg-propensity': {
          lastQualificationTime: '2020-05-25T21:24:39Z',
          status: 'existing',
          name: 'High propensity to convert',
        },
      },
    },
    identityMap: ANN_IDENTITIES,
  },
  // An identity was added: the full identity map, memberships as existing.
  [BOB]: {
    person: { email: 'bob@example.com' },
    segmentMembership: {
      ups: {
        'seg-propensity': {
          lastQualificationTime: '2020-05-25T23:37:33Z',
          status: 'existing',
          name: 'High propensity to convert',
        },
        'seg-churn': { lastQualificationTime: '2021-01-02T03:04:05Z', status: 'existing' },
      },
    },
    identityMap: {
      email_lc_sha256: [{ id: '66baf76ef9de8b42df8903f00e0e3dc0b7' }],
      ecid: [{ id: '66478888669296734530114754794777368480' }, { id: '70000000000000000000000000000000000007' }],
    },
  },
  // Skipped in round 1 (unmapped segment only), now entered a mapped one.
  'p-carl': {
    person: { email: 'carl@example.com' },
    segmentMembership: { ups: { 'seg-churn': { lastQualificationTime: '2024-04-04T04:04:04Z', status: 'realized' } } },
    identityMap: { ecid: [{ id: '333' }] },
  },
  // Exited her only mapped segment.
  'p-eve': {
    segmentMembership: { ups: { 'seg-churn': { lastQualificationTime: '2024-05-05T05:05:05Z', status: 'exited' } } },
    identityMap: { ECID: [{ id: '555' }], phone_sha256: [{ id: 'abc' }, { id: 'def' }] },
  },
  'p-frank': {
    person: { email: 'frank@new.example' },
    segmentMembership: {
      ups: {
        'seg-propensity': {
          lastQualificationTime: '2024-07-08T08:08:08Z',
          status: 'realized',
          name: 'High propensity to convert',
        },
        'seg-churn': { lastQualificationTime: '2024-07-07T07:07:07Z', status: 'realized' },
      },
    },
    identityMap: { ecid: [{ id: '888' }] },
  },
};

/** The records are exactly the expected ones (one per profile, matched by partition key), in the seed's shape. */
function assertRecords(records: readonly StoredRecord[], expected: Record<string, unknown>, round: string): void {
  const byKey = new Map(
    Object.entries(expected).map(([profileId, body]) => [profileIdHash(profileId), { profileId, body }]),
  );
  assert.equal(records.length, byKey.size, `${round}: one record per exported profile, no more`);
  for (const record of records) {
    const wanted = byKey.get(record.partitionKey);
    assert.ok(wanted, `${round}: unexpected partition key ${record.partitionKey}`);
    assert.deepEqual(JSON.parse(record.data), wanted.body, `${round}: record of ${wanted.profileId}`);
    byKey.delete(record.partitionKey);
  }
}

describe('end-to-end activation through the CLI, a real Temporal dev server and a Kinesis emulator', function () {
  const fx = useKinesisFixture('e2e', { streams: { [STREAM]: 2 } });

  it('turns an NDJSON file into exactly the expected seed-format records, and a second round of changes into exactly the records the rules call for', async () => {
    process.env.E2E_KINESIS_SECRET = 'e2e-secret-value';
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const created = await runCli(
        [
          ...emulatorCreateArgs({
            name: 'e2e',
            stream: STREAM,
            endpoint: fx.emulator.endpoint,
            accessKeyId: 'AKIAE2EEXAMPLE0001',
            secretEnv: 'E2E_KINESIS_SECRET',
          }),
          '--json',
          '--description',
          'end-to-end test',
          '--include-segment-names',
        ],
        env,
      );
      assert.equal(created.code, 0, created.stderr);
      const { id } = JSON.parse(created.stdout) as { id: string };

      const activated = await runCli(
        [
          'activate',
          id,
          '--segment',
          'seg-propensity=High propensity to convert',
          '--segment',
          'seg-churn',
          '--attribute',
          'person.email',
          '--attribute',
          'person.name.firstName',
        ],
        env,
      );
      assert.equal(activated.code, 0, activated.stderr);

      /** Ingests a file through the CLI and waits until the destination decided `received` profiles in all. */
      const ingest = async (file: string, received: number) => {
        const ingested = await runCli(['ingest', file, '--json'], env);
        const rejectedLines = (JSON.parse(ingested.stdout) as { rejected: unknown[] }).rejected.length;
        // Exit code 3: some lines were rejected, the others stored.
        assert.equal(ingested.code, rejectedLines > 0 ? 3 : 0, ingested.stderr);
        const done = await waitFor(
          async () => {
            const status = await client.status(id);
            return status.state === 'idle' && status.pending === 0 && status.counters.received === received
              ? status
              : undefined;
          },
          { timeoutMs: 60_000, what: `the destination to decide every profile of ${file}` },
        );
        return {
          report: JSON.parse(ingested.stdout) as { accepted: number; rejected: { line: number; reason: string }[] },
          done,
        };
      };

      // p-carl (unmapped segment only) and p-dora (exited, never exported) concern the destination
      // in neither round: it does not even read them.
      const { report, done } = await ingest(FIXTURE, 4);
      assert.equal(report.accepted, 7); // p-ann twice: coalesced into one record
      assert.deepEqual(
        report.rejected.map((r) => r.line),
        [6, 7, 10],
      );
      assert.match(report.rejected[0]?.reason ?? '', /^invalid JSON/);
      assert.match(report.rejected[1]?.reason ?? '', /identityMap/);
      assert.match(report.rejected[2]?.reason ?? '', /segmentMembership\.ups\.seg-propensity\.status/);
      assert.deepEqual(done.counters, counters({ received: 4, exported: 4 }));

      const records = await readAllRecords(fx.kinesis, STREAM);
      assertRecords(records, EXPECTED, 'round 1');
      const ann = records.find((r) => r.partitionKey === profileIdHash('p-ann'));
      assert.deepEqual(
        Object.keys(JSON.parse(ann?.data ?? '{}') as object),
        ['person', 'segmentMembership', 'identityMap'],
        'seed key order',
      );

      // Round 2: exits, entries, mapped and unmapped attribute changes, identity changes.
      const second = await ingest(ROUND_2, 4 + 6);
      assert.deepEqual(second.report, { accepted: 8, rejected: [], notified: [id], unannounced: null });
      assert.deepEqual(second.done.counters, counters({ received: 10, exported: 9, skipped: 1 }));
      const afterRound2 = await readAllRecords(fx.kinesis, STREAM);
      const round1 = new Set(records.map((r) => r.sequenceNumber));
      assert.deepEqual(
        afterRound2.filter((r) => round1.has(r.sequenceNumber)),
        records,
        'round 1 records are all still there, unchanged',
      );
      assertRecords(
        afterRound2.filter((r) => !round1.has(r.sequenceNumber)),
        EXPECTED_ROUND_2,
        'round 2',
      );

      const status = await runCli(['status', id, '--json'], env);
      assert.equal(status.code, 0, status.stderr);
      const parsed = JSON.parse(status.stdout) as DestinationStatus;
      assert.equal(parsed.state, 'idle');
      assert.equal(parsed.lastError, null);
      assert.deepEqual(parsed.counters, second.done.counters);

      const listed = await runCli(['destination', 'list', '--json'], env);
      assert.equal(listed.code, 0, listed.stderr);
      const entries = JSON.parse(listed.stdout) as { id: string; status: DestinationStatus | null }[];
      assert.deepEqual(entries.find((e) => e.id === id)?.status?.counters, second.done.counters);
      const table = await runCli(['destination', 'list'], env);
      assert.match(table.stdout, /^ID +NAME +STREAM +STATE +PENDING +EXPORTED +LAST ERROR\n/);
      assert.match(table.stdout, new RegExp(`\\n${id} +e2e +${STREAM} +idle +0 +${second.done.counters.exported}\\n`));

      // Every run's history replays against the current workflow code, and evaluates no zod:
      // handlers take parsed messages from history, not from the schemas.
      const runs = await historiesOfEveryRun(temporal.env.client, destinationWorkflowId(id));
      for (const history of runs) {
        await Worker.runReplayHistory({ workflowBundle: temporal.bundle }, history, destinationWorkflowId(id));
        await Worker.runReplayHistory(
          { workflowBundle: await getWorkflowBundleWithoutZod() },
          history,
          destinationWorkflowId(id),
        );
      }
      if (process.env.RECORD_HISTORY)
        writeFileSync(process.env.RECORD_HISTORY, historyToJSON(runs[0] ?? assert.fail()));
    });
  });

  it('rejects bad input with one line naming the field and starts nothing', async () => {
    await withWorker(fx.store, async ({ temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const bad = await runCli(
        ['destination', 'create', '--name', 'x', '--region', 'mars-1', '--stream', STREAM, '--id', 'bad-region'],
        env,
      );
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, /region/);
      const listed = await temporal.env.client.workflow.count(`WorkflowId = '${destinationWorkflowId('bad-region')}'`);
      assert.equal(listed.count, 0);
    });
  });
});
