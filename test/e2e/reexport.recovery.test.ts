import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { ActivationClient } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { ensureStream } from '../../src/embedded/ensureStream';
import { waitFor } from '../../src/embedded/waitFor';
import type { ReexportProgress } from '../../src/workflows/messages';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { profileIds, recordsPerProfile, seedMembers, statusesOf } from '../support/profiles';
import { useRestartableTemporal } from '../support/restartableTemporal';
import { processEnv } from '../support/temporal';
import { startWorkerProcess } from '../support/workerProcess';
import type { WorkerProcess } from '../support/workerProcess';

const PROFILES = 50_000;
const SECRET_ENV = 'RECOVERY_TEST_KINESIS_SECRET';
/** Re-export pages of this many members: a re-export of PROFILES takes ten pages (activities). */
const PAGE_SIZE = 5000;
/** The dev server suggests continue-as-new this early, so a ten-page re-export crosses several runs. */
const SUGGEST_CONTINUE_AS_NEW_AT = 60;

/**
 * Re-exports of 50,000 profiles that survive a worker killed with SIGKILL and a Temporal server
 * restart: every member is read back, and no more than one page (the chunk in flight) twice.
 * The worker is its own process (bin/kinesis-activation worker); the dev server keeps its
 * history in a SQLite file and restarts on the same port.
 */
describe('re-export recovery: worker SIGKILL and Temporal server restart mid-export', function () {
  this.timeout(600_000);
  const workers: WorkerProcess[] = [];
  const taskQueue = `recovery-${randomUUID()}`;
  // Registered first, so it runs first: the workers go before what they use.
  after(async () => {
    for (const worker of workers) await worker.kill();
  });
  const fx = useKinesisFixture('recovery');
  const temporal = useRestartableTemporal(fx, {
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': SUGGEST_CONTINUE_AS_NEW_AT },
  });
  let client: ActivationClient;

  before(() => {
    client = new ActivationClient(
      new Client({ connection: temporal.connection, namespace: temporal.server.namespace }),
      fx.store,
      taskQueue,
    );
  });

  async function startWorker(): Promise<WorkerProcess> {
    const worker = await startWorkerProcess({
      ...processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite')),
      [SECRET_ENV]: 'any',
    });
    workers.push(worker);
    return worker;
  }

  async function newDestination(): Promise<{ id: string; stream: string }> {
    const stream = `recovery-${randomUUID()}`;
    await ensureStream(fx.kinesis, stream, 4);
    const { id } = await client.createDestination(
      {
        name: stream,
        region: 'us-east-1',
        stream,
        endpoint: fx.emulator.endpoint,
        credentials: { type: 'accessKey', accessKeyId: 'AKIARECOVERYTEST01', secretAccessKeyEnv: SECRET_ENV },
      },
      undefined,
      { reexportPageSize: PAGE_SIZE },
    );
    return { id, stream };
  }

  /** Waits (through outages) until the running re-export has read at least `members`. */
  function whenRead(id: string, members: number): Promise<ReexportProgress> {
    return waitFor(
      async () => {
        const running = (await client.status(id)).reexport;
        return running && running.profilesRead >= members ? running : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50, what: `the re-export to pass ${members} members` },
    );
  }

  /** Waits (through outages) for the re-export `reexportId` to finish. */
  function finished(id: string, reexportId: string): Promise<ReexportProgress> {
    return waitFor(async () => (await client.status(id)).recentReexports.find((r) => r.id === reexportId), {
      timeoutMs: 300_000,
      intervalMs: 250,
      what: `re-export ${reexportId} to finish`,
    });
  }

  async function runsOf(id: string): Promise<number> {
    return (await client.client.workflow.count(`WorkflowId = '${destinationWorkflowId(id)}'`)).count;
  }

  it('resumes a back-fill of 50,000 members after the worker is killed: all read back, at most one page twice', async () => {
    const p = `kill-${randomUUID()}-`;
    const seg = `${p}S`;
    const members = profileIds(`${p}m-`, PROFILES);
    await seedMembers(fx.store, members, { [seg]: 'realized' });
    let worker = await startWorker();
    const { id, stream } = await newDestination();

    // The first activation back-fills every current member: a re-export of 50,000 profiles.
    await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });
    const before = await whenRead(id, PROFILES / 3);
    assert.ok(before.profilesRead < PROFILES, 'killed in the middle');
    await worker.kill();
    worker = await startWorker();

    const backfill = await finished(id, before.id);
    assert.equal(backfill.trigger, 'activation');
    assert.equal(backfill.profilesRead, PROFILES);
    assert.ok(backfill.profilesExported >= PROFILES - PAGE_SIZE, `exported ${backfill.profilesExported}`);
    assert.ok((await runsOf(id)) > 1, 'the re-export crossed continue-as-new');

    const records = await readAllRecords(fx.kinesis, stream, { timeoutMs: 120_000 });
    const per = recordsPerProfile(records, members);
    const missing = members.filter((pid) => (per.get(pid)?.length ?? 0) === 0);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} member(s) never exported`);
    const duplicates = records.length - PROFILES;
    assert.ok(duplicates <= PAGE_SIZE, `${duplicates} duplicates: more than the one page in flight at the kill`);
    for (const pid of members.slice(0, 100))
      assert.deepEqual(statusesOf(per.get(pid)?.[0] ?? assert.fail(pid)), { [seg]: 'realized' });
  });

  it('resumes a forced re-export of 50,000 members across a Temporal server restart: all read back, at most one page twice', async () => {
    const p = `restart-${randomUUID()}-`;
    const seg = `${p}S`;
    const members = profileIds(`${p}m-`, PROFILES);
    await seedMembers(fx.store, members, { [seg]: 'realized' });
    if (workers.every((w) => w.child.exitCode !== null || w.child.signalCode !== null)) await startWorker();
    const { id, stream } = await newDestination();
    await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });
    await waitFor(async () => (await client.status(id)).recentReexports.length === 1, {
      timeoutMs: 300_000,
      what: 'the back-fill',
    });

    const forced = await client.reexport(id, { force: true });
    await whenRead(id, PROFILES / 3);
    await temporal.server.stop();
    await temporal.start();

    const done = await finished(id, forced.id);
    assert.equal(done.profilesRead, PROFILES);
    assert.ok((await runsOf(id)) > 1, 'the re-export crossed continue-as-new');

    const records = await readAllRecords(fx.kinesis, stream, { timeoutMs: 180_000 });
    const per = recordsPerProfile(records, members);
    // Each member: its back-fill record (realized), then its forced one (existing).
    const short = members.filter((pid) => {
      const statuses = (per.get(pid) ?? []).map((r) => statusesOf(r)[seg]);
      return statuses[0] !== 'realized' || !statuses.slice(1).includes('existing');
    });
    assert.deepEqual(short.slice(0, 5), [], `${short.length} member(s) without both records`);
    const duplicates = records.length - 2 * PROFILES;
    assert.ok(duplicates <= PAGE_SIZE, `${duplicates} duplicates: more than the one page in flight at the restart`);
  });
});
