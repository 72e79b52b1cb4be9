import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ActivationClient } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { profileIdHash } from '../../src/domain/partitionKey';
import type { ProfileSnapshot, SegmentStatus } from '../../src/domain/profile';
import type { ExportRecord } from '../../src/domain/projection';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { waitFor } from '../../src/embedded/waitFor';
import { createKinesisClient } from '../../src/kinesis/client';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { createActivationWorker } from '../../src/worker';
import { EXPORT_PAGE_SIZE } from '../../src/workflows/steps';
import { createStream, readAllRecords } from '../support/kinesisStream';
import type { StoredRecord } from '../support/kinesisStream';
import { createTestDatabase } from '../support/postgres';
import { startWorkerProcess } from '../support/workerProcess';
import { getTestTemporal, processEnv } from '../support/temporal';
import type { TestTemporal } from '../support/temporal';

const SECRET_ENV = 'SHARED_PG_KINESIS_SECRET';
const STREAM = 'shared-postgres';
/** More than one export page per round, so pages of one round can go to different workers. */
const PROFILES = EXPORT_PAGE_SIZE + 2_000;
const QUALIFIED = '2024-01-01T00:00:00Z';

type Round = 1 | 2 | 3;

/**
 * Profile i in each round. Every round also changes an unmapped attribute and an unmapped
 * segment of every profile, which must never cause a record on their own.
 * - seg-a: member in round 1 unless i % 10 == 0; from round 2, members with i % 7 == 0 exit;
 *   in round 3, i % 14 == 0 (re-)enter.
 * - seg-b: entered in round 3 by i % 20 == 0.
 * - person.email (mapped): changes in round 2 for i % 3 == 0.
 */
function snapshotOf(i: number, round: Round): ProfileSnapshot {
  const segA = round === 1 ? i % 10 !== 0 : (i % 10 !== 0 && i % 7 !== 0) || (round === 3 && i % 14 === 0);
  const ups: Record<string, { status: SegmentStatus; lastQualificationTime: string }> = {
    'seg-a': { status: segA ? 'existing' : 'exited', lastQualificationTime: QUALIFIED },
    'seg-unmapped': { status: 'realized', lastQualificationTime: `2024-0${round}-01T00:00:00Z` },
  };
  if (round === 3 && i % 20 === 0) ups['seg-b'] = { status: 'realized', lastQualificationTime: QUALIFIED };
  return {
    profileId: profileIdOf(i),
    identityMap: { ecid: [{ id: `ecid-${i}` }] },
    person: { email: emailOf(i, round), name: { lastName: `round ${round}` } },
    segmentMembership: { ups },
  };
}

/**
 * Profiles the destination reads in a round: members of a mapped segment, and those its ledger
 * holds (each member of seg-a in round 1 was exported then); the others cost it nothing.
 */
function readInRound(round: Round): number {
  let read = 0;
  for (let i = 0; i < PROFILES; i++) {
    const ups = snapshotOf(i, round).segmentMembership?.ups ?? {};
    const member = ['seg-a', 'seg-b'].some((s) => ups[s] !== undefined && ups[s].status !== 'exited');
    if (member || i % 10 !== 0) read++;
  }
  return read;
}

function profileIdOf(i: number): string {
  return `shared-${i}`;
}

function emailOf(i: number, round: Round): string {
  return round >= 2 && i % 3 === 0 ? `p${i}@two.example` : `p${i}@one.example`;
}

/** What the export rules call for in each round (derived by hand from snapshotOf), or undefined for no record. */
function expectedOf(i: number, round: Round): { segments: Record<string, SegmentStatus>; email: string } | undefined {
  const email = emailOf(i, round);
  switch (round) {
    case 1:
      // Members enter; the others were never exported and are in no mapped segment.
      return i % 10 !== 0 ? { segments: { 'seg-a': 'realized' }, email } : undefined;
    case 2:
      // Exported members that exited or whose email changed; never-exported profiles stay out.
      if (i % 10 === 0 || (i % 7 !== 0 && i % 3 !== 0)) return undefined;
      return { segments: { 'seg-a': i % 7 === 0 ? 'exited' : 'existing' }, email };
    case 3: {
      // Entries only: re-entry into seg-a after an exported exit (or a first entry), first entry into seg-b.
      const segments: Record<string, SegmentStatus> = {};
      if (i % 14 === 0) segments['seg-a'] = 'realized';
      if (i % 20 === 0) segments['seg-b'] = 'realized';
      return Object.keys(segments).length > 0 ? { segments, email } : undefined;
    }
  }
}

/** An in-process worker with its own PostgreSQL store. */
interface InProcessWorker {
  identity: string;
  stop(): Promise<void>;
}

async function startInProcessWorker(
  temporal: TestTemporal,
  taskQueue: string,
  databaseUrl: string,
): Promise<InProcessWorker> {
  const store = await openStore(databaseUrl);
  const { worker, close } = await createActivationWorker({
    connection: temporal.env.nativeConnection,
    namespace: temporal.server.namespace,
    taskQueue,
    store,
    workflowBundle: temporal.bundle,
  });
  const running = worker.run();
  return {
    identity: worker.options.identity,
    async stop() {
      worker.shutdown();
      await running;
      close();
      await store.close();
    },
  };
}

/** `kinesis-activation worker` in a child process, as on another host. */
interface ChildWorker {
  identity: string;
  stop(): Promise<void>;
}

async function startChildWorker(env: NodeJS.ProcessEnv): Promise<ChildWorker> {
  const worker = await startWorkerProcess(env);
  return {
    identity: worker.identity,
    async stop() {
      // SIGTERM is a graceful worker shutdown.
      assert.equal(await worker.stop(), 0, worker.output());
    },
  };
}

describe('two workers sharing one PostgreSQL store export one destination', function () {
  let emulator: KinesisEmulator;
  let kinesis: KinesisClient;
  let databaseUrl: string;
  const stores: Store[] = [];

  before(async () => {
    process.env[SECRET_ENV] = 'emulator-accepts-any-secret';
    emulator = await startKinesisEmulator();
    kinesis = createKinesisClient({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    await createStream(kinesis, STREAM, 4);
    databaseUrl = await createTestDatabase();
  });

  after(async () => {
    for (const store of stores) await store.close();
    kinesis.destroy();
    await emulator.stop();
  });

  it('sends every profile the rules call for exactly once per round, whichever worker runs a page', async () => {
    const temporal = await getTestTemporal();
    const taskQueue = `shared-postgres-${randomUUID()}`;
    // Two ingesting clients, each with its own connection pool, write concurrently.
    const clients = await Promise.all(
      [0, 1].map(async () => {
        const store = await openStore(databaseUrl);
        stores.push(store);
        return new ActivationClient(temporal.env.client, store, taskQueue);
      }),
    );
    const [client] = clients as [ActivationClient, ActivationClient];

    let inProcess: InProcessWorker | undefined = await startInProcessWorker(temporal, taskQueue, databaseUrl);
    let child: ChildWorker | undefined = await startChildWorker(processEnv(temporal.server, taskQueue, databaseUrl));
    try {
      const { id } = await client.createDestination({
        name: 'shared postgres',
        region: 'us-east-1',
        stream: STREAM,
        endpoint: emulator.endpoint,
        credentials: { type: 'accessKey', accessKeyId: 'AKIASHAREDEXAMPLE1', secretAccessKeyEnv: SECRET_ENV },
      });
      await client.activate(id, { segments: [{ id: 'seg-a' }, { id: 'seg-b' }], attributes: ['person.email'] });

      const decidedUpTo = (round: Round): number =>
        ([1, 2, 3] as const).filter((r) => r <= round).reduce((sum, r) => sum + readInRound(r), 0);
      const seen = new Set<string>();
      /** Ingests every profile (half through each client, at once), waits, and checks the new records. */
      const runRound = async (round: Round): Promise<void> => {
        const lines = Array.from({ length: PROFILES }, (_, i) => JSON.stringify(snapshotOf(i, round)));
        const halves = [lines.filter((_, i) => i % 2 === 0), lines.filter((_, i) => i % 2 === 1)];
        const results = await Promise.all(
          clients.map((c, k) => c.ingest(Readable.from((halves[k] ?? []).map((l) => `${l}\n`)))),
        );
        assert.deepEqual(
          results.map((r) => r.accepted),
          [PROFILES / 2, PROFILES / 2],
        );
        const status = await waitFor(
          async () => {
            const current = await client.status(id);
            const decided =
              current.state === 'idle' && current.pending === 0 && current.counters.received === decidedUpTo(round);
            return decided || current.lastError !== null ? current : undefined;
          },
          { timeoutMs: 120_000, what: `round ${round} to be decided` },
        );
        assert.equal(status.lastError, null);
        const fresh = (await readAllRecords(kinesis, STREAM, { timeoutMs: 60_000 })).filter(
          (r) => !seen.has(r.sequenceNumber),
        );
        for (const r of fresh) seen.add(r.sequenceNumber);
        assertRound(fresh, round);
      };

      // Round 1: both workers poll the task queue.
      await runRound(1);
      // Round 2: only the worker in the other process, deciding against the ledger both wrote.
      await inProcess.stop();
      inProcess = undefined;
      await runRound(2);
      // Round 3: only a worker in this process, deciding against the ledger the other process wrote.
      inProcess = await startInProcessWorker(temporal, taskQueue, databaseUrl);
      await child.stop();
      const childIdentity = child.identity;
      child = undefined;
      await runRound(3);

      const exportWorkers = await exportPageWorkers(temporal, id);
      assert.ok(exportWorkers.has(childIdentity), 'the worker in the other process ran export pages');
      assert.ok(exportWorkers.has(inProcess.identity), 'the worker in this process ran export pages');
      assert.deepEqual(
        [...exportWorkers].filter((w) => w !== childIdentity && w !== inProcess?.identity),
        [],
      );
    } finally {
      await child?.stop();
      await inProcess?.stop();
    }
  });
});

/** The records of one round: exactly one per profile the rules call for, with the expected content, and none for any other. */
function assertRound(records: readonly StoredRecord[], round: Round): void {
  const byKey = new Map<string, number>();
  for (let i = 0; i < PROFILES; i++) if (expectedOf(i, round)) byKey.set(profileIdHash(profileIdOf(i)), i);
  const counts = new Map<number, number>();
  for (const record of records) {
    const i = byKey.get(record.partitionKey);
    assert.ok(i !== undefined, `round ${round}: a record nobody should have got: ${record.data}`);
    counts.set(i, (counts.get(i) ?? 0) + 1);
    const body = JSON.parse(record.data) as ExportRecord;
    const expected = expectedOf(i, round);
    assert.deepEqual(
      {
        email: (body.person as { email: string }).email,
        segments: Object.fromEntries(
          Object.entries(body.segmentMembership.ups).map(([segment, entry]) => [segment, entry.status]),
        ),
      },
      expected,
      `round ${round}: record of ${profileIdOf(i)}`,
    );
  }
  const twice = [...counts].filter(([, n]) => n > 1).map(([i]) => profileIdOf(i));
  assert.deepEqual(twice, [], `round ${round}: profiles sent more than once`);
  const missing = [...byKey.values()].filter((i) => !counts.has(i)).map(profileIdOf);
  assert.deepEqual(missing, [], `round ${round}: profiles never sent`);
}

/** Identities of the workers that started the destination's export activities, from its history. */
async function exportPageWorkers(temporal: TestTemporal, destinationId: string): Promise<Set<string>> {
  const history = await temporal.env.client.workflow.getHandle(destinationWorkflowId(destinationId)).fetchHistory();
  const exportPages = new Set<string>();
  const identities = new Set<string>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'exportPage') exportPages.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && exportPages.has(String(started.scheduledEventId)) && started.identity)
      identities.add(started.identity);
  }
  return identities;
}
