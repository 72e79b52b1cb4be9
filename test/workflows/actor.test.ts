import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { Activation } from '../../src/domain/activation';
import type { ExportPageInput, ReexportPageInput, SaveDestinationInput } from '../../src/activities/types';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { DestinationSettings } from '../../src/domain/destination';
import { waitFor } from '../../src/embedded/waitFor';
import { DESTINATION_STATE } from '../../src/searchAttributes';
import { ensureSearchAttributes } from '../../src/temporal/searchAttributeRegistration';
import { destinationWorkflow } from '../../src/workflows';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  deleteUpdate,
  pauseSignal,
  profilesChangedSignal,
  reexportUpdate,
  replayDeadLettersUpdate,
  resumeSignal,
  statusQuery,
} from '../../src/workflows/messages';
import type {
  CarriedState,
  DestinationStatus,
  DestinationWorkflowInput,
  ReexportProgress,
} from '../../src/workflows/messages';
import { FakeActivities, memberId } from '../support/fakeActivities';
import { getTestTemporal } from '../support/temporal';

const EventType = proto.api.enums.v1.EventType;

/** With RECORD_ACTOR_HISTORIES=dir, the tests that name a file write their history there (test/fixtures/histories). */
const RECORD_DIR = process.env.RECORD_ACTOR_HISTORIES;

const SETTINGS: DestinationSettings = destinationSettingsSchema.parse({
  name: 'fake',
  region: 'us-east-1',
  stream: 'fake',
});
const ONE: Activation = { segments: [{ id: 'A', mappingCreatedAt: 1 }], attributes: ['person.email'] };
const TWO: Activation = {
  segments: [
    { id: 'A', mappingCreatedAt: 2 },
    { id: 'B', mappingCreatedAt: 2 },
  ],
  attributes: ['person.email'],
};
/** Retries far apart: only a user's action ends an error within a test. */
const NO_RETRY = { initialMs: 3_600_000, maxMs: 3_600_000 };

type Handle = WorkflowHandle<typeof destinationWorkflow>;

interface Actor {
  handle: Handle;
  status(): Promise<DestinationStatus>;
  /** Waits (up to 10 s) for a status that satisfies `check`. */
  until(what: string, check: (s: DestinationStatus) => boolean): Promise<DestinationStatus>;
  /** The DestinationState search attribute, as the Temporal UI shows it. */
  shownState(): Promise<unknown>;
  signalChanges(seq: number, count: number): Promise<void>;
  /** The activities of `type` the actor has scheduled, from its history. */
  scheduled(type: string): Promise<number>;
  /** The durations (ms) of the timers it started, from its history. */
  timers(): Promise<number[]>;
}

/**
 * Runs `fn` against a destination actor whose activities are `fake` (no Kinesis, no store) on a
 * worker of its own; then replays the actor's history, and records it when asked.
 */
async function withActor(
  fake: FakeActivities,
  fn: (actor: Actor) => Promise<void>,
  options: { input?: Partial<DestinationWorkflowInput>; record?: string } = {},
): Promise<void> {
  const temporal = await getTestTemporal();
  await ensureSearchAttributes(temporal.env.nativeConnection, temporal.server.namespace);
  const taskQueue = `actor-${randomUUID()}`;
  const worker = await Worker.create({
    connection: temporal.env.nativeConnection,
    namespace: temporal.server.namespace,
    taskQueue,
    workflowBundle: temporal.bundle,
    activities: fake.activities(),
  });
  const destinationId = randomUUID();
  await worker.runUntil(async () => {
    const handle = await temporal.env.client.workflow.start(destinationWorkflow, {
      workflowId: `destination-${destinationId}`,
      taskQueue,
      args: [{ destinationId, settings: SETTINGS, errorRetry: { initialMs: 200, maxMs: 400 }, ...options.input }],
      typedSearchAttributes: [{ key: DESTINATION_STATE, value: 'idle' }],
    });
    const status = (): Promise<DestinationStatus> => handle.query(statusQuery);
    const actor: Actor = {
      handle,
      status,
      until: (what, check) =>
        waitFor(async () => ((s) => check(s) && s)(await status()), { timeoutMs: 10_000, intervalMs: 20, what }),
      shownState: async () => (await handle.describe()).typedSearchAttributes.get(DESTINATION_STATE),
      signalChanges: (seq, count) => handle.signal(profilesChangedSignal, { seq, count }),
      scheduled: async (type) =>
        ((await handle.fetchHistory()).events ?? []).filter(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type,
        ).length,
      timers: async () =>
        ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
          const timeout = e.timerStartedEventAttributes?.startToFireTimeout;
          return timeout ? [Number(timeout.seconds ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6)] : [];
        }),
    };
    try {
      await fn(actor);
      const history = await handle.fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: temporal.bundle }, history, handle.workflowId);
      if (RECORD_DIR && options.record) writeFileSync(join(RECORD_DIR, options.record), historyToJSON(history));
    } finally {
      fake.openAll();
      // A deleted destination's workflow ended by itself.
      if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test over');
    }
  });
}

const idle = (s: DestinationStatus): boolean => s.state === 'idle';

/** Starts, activates ONE on an empty store and waits until its (empty) back-fill is done. */
async function activated(actor: Actor): Promise<void> {
  await actor.until('the first check', (s) => s.permissions !== null);
  await actor.handle.executeUpdate(activateUpdate, { args: [ONE] });
  await actor.until('the back-fill to finish', (s) => idle(s) && s.recentReexports.length === 1);
}

describe('destination actor with mocked activities (real Temporal dev server)', function () {
  // Each test takes a few seconds; the first also waits for the dev server and the workflow bundle.
  this.timeout(60_000);

  it('goes idle → exporting → paused (the running page still counts) → idle, the search attribute showing backlogs, not each page', async () => {
    const fake = new FakeActivities();
    await withActor(fake, async (actor) => {
      await activated(actor);
      assert.equal(await actor.shownState(), 'idle');

      fake.head = 5;
      const page = fake.hold('exportPage');
      await actor.signalChanges(5, 5);
      await page.reached;
      await actor.until('exporting', (s) => s.state === 'exporting');
      assert.equal(await actor.shownState(), 'idle', 'a page that catches up at once is not shown');

      await actor.handle.signal(pauseSignal);
      await actor.until('paused while the page runs', (s) => s.state === 'paused');
      page.open();
      const paused = await actor.until('the page to be recorded', (s) => s.checkpoint === 5);
      assert.equal(paused.state, 'paused');
      assert.equal(paused.counters.received, 5);
      assert.equal(await actor.shownState(), 'paused');

      // Paused, a due change starts nothing (an update after the signal sees the signal's effects).
      fake.head = 8;
      await actor.signalChanges(8, 3);
      await actor.handle.executeUpdate(checkPermissionsUpdate);
      assert.equal(await actor.scheduled('exportPage'), 1, 'no page while paused');
      await actor.handle.signal(resumeSignal);
      const resumed = await actor.until('caught up after resume', (s) => idle(s) && s.checkpoint === 8);
      assert.equal(resumed.pending, 0);
      assert.equal(await actor.shownState(), 'idle');

      // A backlog (pages of 10): the first page comes back full, and the rest show as exporting.
      fake.head = 33;
      const first = fake.hold('exportPage');
      await actor.signalChanges(33, 25);
      await first.reached;
      const second = fake.hold('exportPage');
      first.open();
      await second.reached;
      assert.equal(await actor.shownState(), 'exporting', 'a backlog is shown');
      second.open();
      await actor.until('caught up with the backlog', (s) => idle(s) && s.checkpoint === 33);
      assert.equal(await actor.shownState(), 'idle');
    });
  });

  it('retries a failed step by itself on the error timer, each wait doubling up to the cap, then recovers', async () => {
    const fake = new FakeActivities();
    await withActor(fake, async (actor) => {
      await activated(actor);
      fake.exportFailures = 3;
      fake.head = 4;
      await actor.signalChanges(4, 4);
      const stopped = await actor.until('error', (s) => s.state === 'error');
      assert.equal(stopped.lastError, 'AccessDenied');
      assert.equal(stopped.failedAttempts, 1);
      assert.ok(stopped.nextRetryAt !== null, 'a retry is planned');
      assert.equal(await actor.shownState(), 'error');

      const recovered = await actor.until('recovered by itself', (s) => idle(s) && s.checkpoint === 4);
      assert.equal(recovered.failedAttempts, 0);
      assert.equal(recovered.nextRetryAt, null);
      assert.equal(recovered.lastError, null);
      // 200 ms, doubled to 400 ms, then the 400 ms cap; one attempt after each.
      assert.deepEqual(await actor.timers(), [200, 400, 400]);
      const times = fake.calls.filter((c) => c.name === 'exportPage').map((c) => c.at);
      assert.equal(times.length, 4, 'one attempt per retry');
      const waits = times.slice(1).map((t, i) => t - (times[i] as number));
      for (const [i, least] of [200, 400, 400].entries())
        assert.ok((waits[i] ?? 0) >= least - 20, `attempt ${i + 2} came ${waits[i]} ms after the one before`);
    });
  });

  it('ends an error at once on resume or on new settings; a pause replaces the error and plans no retry', async () => {
    const fake = new FakeActivities();
    await withActor(
      fake,
      async (actor) => {
        await activated(actor);
        const fail = async (seq: number): Promise<void> => {
          fake.exportFailures = 1;
          fake.head = seq;
          await actor.signalChanges(seq, 1);
          await actor.until(`error at ${seq}`, (s) => s.state === 'error');
        };
        await fail(1);
        await actor.handle.signal(resumeSignal);
        await actor.until('resumed', (s) => idle(s) && s.checkpoint === 1);

        await fail(2);
        const configured = await actor.handle.executeUpdate(configureUpdate, {
          args: [{ ...SETTINGS, description: 'fixed' }],
        });
        assert.equal(configured.lastError, null);
        await actor.until('configured', (s) => idle(s) && s.checkpoint === 2);

        await fail(3);
        await actor.handle.signal(pauseSignal);
        const paused = await actor.until('paused', (s) => s.state === 'paused');
        assert.equal(paused.nextRetryAt, null);
        assert.equal(paused.checkpoint, 2);
        await actor.handle.signal(resumeSignal);
        await actor.until('resumed after pause', (s) => idle(s) && s.checkpoint === 3);
      },
      { input: { errorRetry: NO_RETRY } },
    );
  });

  it('retries a failed creation check on the error schedule, saying when, until it passes', async () => {
    const fake = new FakeActivities();
    fake.denied = true;
    await withActor(
      fake,
      async (actor) => {
        const stopped = await actor.until('the first check to fail', (s) => s.state === 'error');
        assert.equal(stopped.lastError, 'kinesis:PutRecords denied');
        assert.equal(stopped.failedAttempts, 1);
        assert.ok(stopped.nextRetryAt !== null, 'status says when it retries');
        assert.equal(stopped.permissions?.ok, false);
        await actor.until('a retry that fails again', (s) => s.failedAttempts === 2 && s.nextRetryAt !== null);
        fake.denied = false;
        const passed = await actor.until('a retry that passes', idle);
        assert.equal(passed.failedAttempts, 0);
        assert.equal(passed.permissions?.ok, true);
        assert.ok(fake.names().filter((n) => n === 'checkPermissions').length >= 3);
      },
      { record: 'destination-actor-check-retry-v1.json' },
    );
  });

  it('takes turns between change pages and re-export pages while both are due', async () => {
    const fake = new FakeActivities();
    fake.members = 30;
    await withActor(
      fake,
      async (actor) => {
        await actor.until('the first check', (s) => s.permissions !== null);
        const count = fake.hold('countSegmentMembers');
        await actor.handle.executeUpdate(activateUpdate, { args: [ONE] });
        await count.reached;
        fake.head = 30;
        await actor.signalChanges(30, 30);
        await actor.until('the changes to be known', (s) => s.pending === 30);
        count.open();
        const done = await actor.until('both done', (s) => idle(s) && s.checkpoint === 30 && s.reexport === null);
        assert.equal(done.counters.received, 60);
        assert.deepEqual(fake.names().slice(fake.names().indexOf('countSegmentMembers')), [
          'countSegmentMembers',
          'exportPage',
          'reexportPage',
          'exportPage',
          'reexportPage',
          'exportPage',
          'reexportPage',
        ]);
        const cursors = fake.inputs<ReexportPageInput>('reexportPage').map((i) => i.cursor);
        assert.deepEqual(cursors, [null, 'm000010', 'm000020']);
      },
      { input: { reexportPageSize: 10 }, record: 'destination-actor-turns-v1.json' },
    );
  });

  it('moves no checkpoint for a page started under an older mapping', async () => {
    const fake = new FakeActivities();
    await withActor(fake, async (actor) => {
      await activated(actor);
      fake.head = 10;
      fake.changesPerPage = 100;
      const page = fake.hold('exportPage');
      await actor.signalChanges(10, 10);
      await page.reached;
      await actor.handle.executeUpdate(activateUpdate, { args: [TWO] });
      page.open();
      const done = await actor.until('caught up', (s) => idle(s) && s.checkpoint === 10 && s.reexport === null);
      assert.equal(done.counters.received, 20, 'both pages counted');
      const pages = fake.inputs<ExportPageInput>('exportPage');
      assert.deepEqual(
        pages.map((p) => [p.cursor, p.activation.segments.length]),
        [
          [0, 1],
          [0, 2],
        ],
        'the page under the new mapping starts from the old checkpoint',
      );
    });
  });

  it("sends pages the stream's record size limit from the last check, unless the settings set one", async () => {
    const MiB = 1024 * 1024;
    const fake = new FakeActivities();
    fake.streamMaxRecordBytes = 2 * MiB;
    await withActor(fake, async (actor) => {
      await activated(actor);
      fake.head = 5;
      await actor.signalChanges(5, 5);
      await actor.until('caught up', (s) => idle(s) && s.checkpoint === 5);
      const limits = () =>
        [...fake.inputs<ExportPageInput>('exportPage'), ...fake.inputs<ReexportPageInput>('reexportPage')].map(
          (p) => p.settings.maxRecordBytes,
        );
      assert.deepEqual(new Set(limits()), new Set([2 * MiB]));

      // Set in the settings, the limit is theirs whatever the stream says.
      await actor.handle.executeUpdate(configureUpdate, { args: [{ ...SETTINGS, maxRecordBytes: 1536 * 1024 }] });
      const before = fake.inputs<ExportPageInput>('exportPage').length;
      fake.head = 8;
      await actor.signalChanges(8, 3);
      await actor.until('caught up again', (s) => idle(s) && s.checkpoint === 8);
      const later = fake.inputs<ExportPageInput>('exportPage').slice(before);
      assert.ok(later.length > 0);
      assert.deepEqual(new Set(later.map((p) => p.settings.maxRecordBytes)), new Set([1536 * 1024]));
    });
  });

  it('reads cursors under the names earlier versions carried and recorded (checkpoint, knownSeq, afterProfileId, lastSeq, lastProfileId)', async () => {
    const fake = new FakeActivities();
    fake.head = 12;
    fake.changesPerPage = 4;
    fake.members = 6;
    fake.earlierNames = true;
    const progress: ReexportProgress = {
      id: 'r1',
      trigger: 'manual',
      force: false,
      segmentIds: ['A'],
      startedAt: new Date(0).toISOString(),
      finishedAt: null,
      pagesDone: 1,
      profilesRead: 3,
      profilesExported: 3,
      profilesSkipped: 0,
      deadLettered: 0,
      estimatedTotal: 6,
      estimatedRemaining: 3,
    };
    // As a run before the rename carried its state.
    const carried = {
      activation: ONE,
      checkpoint: 5,
      knownSeq: 12,
      rescan: false,
      pending: 7,
      counts: { decided: 5, exported: 5, skipped: 0, deadLettered: 0 },
      reexports: {
        active: { progress, afterProfileId: memberId(3), upToSeq: null, waiters: [] },
        pendingBackfill: null,
        recent: [],
      },
    } as unknown as CarriedState;
    await withActor(
      fake,
      async (actor) => {
        await actor.until('caught up', (s) => idle(s) && s.checkpoint === 12 && s.reexport === null);
        assert.deepEqual(
          fake.inputs<ExportPageInput>('exportPage').map((i) => i.cursor),
          [5, 9],
        );
        assert.deepEqual(
          fake.inputs<ReexportPageInput>('reexportPage').map((i) => i.cursor),
          [memberId(3), memberId(5)],
        );
      },
      { input: { carried, reexportPageSize: 2 } },
    );
  });

  it('serialises configure and activate: the store row and status agree', async () => {
    const fake = new FakeActivities();
    await withActor(fake, async (actor) => {
      await actor.until('the first check', (s) => s.permissions !== null);
      const head = fake.hold('storeHead');
      const activating = actor.handle.executeUpdate(activateUpdate, { args: [ONE] });
      await head.reached;
      const other = { ...SETTINGS, stream: 'other' };
      const configuring = await actor.handle.startUpdate(configureUpdate, {
        args: [other],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      });
      // Accepted means its handler ran up to its first wait: no activity of it may be scheduled yet.
      const events = (await actor.handle.fetchHistory()).events ?? [];
      const accepted = events
        .map((e) => e.eventType)
        .lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
      assert.ok(accepted > 0);
      assert.deepEqual(
        events.slice(accepted).filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        [],
        'configure waited for activate',
      );
      head.open();
      await activating;
      const status = await configuring.result();
      const row = fake.saved.at(-1) as SaveDestinationInput;
      assert.deepEqual([row.settings.stream, row.activation?.segments.map((s) => s.id)], ['other', ['A']]);
      assert.deepEqual([status.stream, status.activation?.segments.map((s) => s.id)], ['other', ['A']]);
    });
  });

  it('counts nothing as pending with nothing mapped; a segment that stays mapped keeps its mappingCreatedAt', async () => {
    const fake = new FakeActivities();
    await withActor(fake, async (actor) => {
      await actor.until('the first check', (s) => s.permissions !== null);
      fake.head = 7;
      await actor.signalChanges(7, 7);
      // An update after the signal sees it applied.
      await actor.handle.executeUpdate(checkPermissionsUpdate);
      assert.equal((await actor.status()).pending, 0);

      await actor.handle.executeUpdate(activateUpdate, { args: [ONE] });
      const status = await actor.handle.executeUpdate(activateUpdate, { args: [TWO] });
      assert.deepEqual(
        status.activation?.segments.map((s) => [s.id, s.mappingCreatedAt]),
        [
          ['A', 1],
          ['B', 2],
        ],
      );
      assert.deepEqual(fake.saved.at(-1)?.activation, status.activation, 'the store row keeps it too');
    });
  });

  it('replays dead letters and stops for deletion in its turn: after the running page, none meanwhile', async () => {
    const fake = new FakeActivities();
    await withActor(
      fake,
      async (actor) => {
        await activated(actor);
        fake.members = 30;
        const earlier = fake.calls.length;
        const first = fake.hold('reexportPage');
        const reexport = await actor.handle.executeUpdate(reexportUpdate, { args: [{}] });
        await first.reached;

        // A delete is refused while the re-export runs, changing nothing.
        await assert.rejects(
          actor.handle.executeUpdate(deleteUpdate, { args: [{}] }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError &&
            /re-export .* is running .*: wait for it to finish, or delete with --force$/.test(
              err.cause instanceof Error ? err.cause.message : '',
            ),
        );

        // A replay waits for the running page; no page starts before it ends.
        const second = fake.hold('reexportPage');
        const replaying = await actor.handle.startUpdate(replayDeadLettersUpdate, {
          args: [{ profileIds: ['p-1', 'p-2'] }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        await actor.status();
        assert.ok(!fake.names().includes('replayPage'), 'the replay waited for the running page');
        first.open();
        assert.deepEqual(await replaying.result(), { decided: 2, exported: 2, skipped: 0, deadLettered: 0 });
        await second.reached;
        const order = fake
          .names()
          .slice(earlier)
          .filter((n) => n === 'reexportPage' || n === 'replayPage');
        assert.deepEqual(order, ['reexportPage', 'replayPage', 'reexportPage']);

        // Forced, it waits for the running page, abandons the re-export and the workflow ends.
        const deleting = await actor.handle.startUpdate(deleteUpdate, {
          args: [{ force: true }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        second.open();
        const stopped = await deleting.result();
        assert.equal(stopped.abandonedReexport, reexport.id);
        assert.deepEqual(await actor.handle.result(), stopped);
        assert.equal(await actor.scheduled('reexportPage'), 3, 'no page after the delete (one was the back-fill)');
        assert.equal((await actor.handle.describe()).status.name, 'COMPLETED');
      },
      { input: { reexportPageSize: 10 } },
    );
  });
});
