import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import type { ReexportScheduleInfo } from '../../src/client/reexportSchedules';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { ensureStream } from '../../src/embedded/ensureStream';
import { waitFor } from '../../src/embedded/waitFor';
import type { DestinationStatus, ReexportOutcome, ReexportProgress } from '../../src/workflows/messages';
import { runCli } from '../support/cli';
import { profileIds, seedMembers } from '../support/profiles';
import { useKinesisFixture } from '../support/kinesisFixture';
import { processEnv, withWorker } from '../support/temporal';

const SECRET_ENV = 'REEXPORT_CLI_KINESIS_SECRET';
const MEMBERS = 4000;

/** Re-exports and their schedules through the CLI, against a real dev server, worker and emulator. */
describe('reexport and schedule commands (CLI over a real Temporal dev server)', function () {
  this.timeout(300_000);
  const fx = useKinesisFixture('reexport-cli', { proxy: true });

  before(() => {
    process.env[SECRET_ENV] = 'any';
  });

  it('runs a re-export with --wait, and scheduled re-exports every 2 s that never overlap; pause, trigger, list, delete', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const cli = async (...args: string[]) => {
        const result = await runCli(args, env);
        assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
        return result.stdout;
      };
      const stream = `reexport-cli-${randomUUID()}`;
      await ensureStream(fx.kinesis, stream, 1);
      const { id } = await client.createDestination({
        name: stream,
        region: 'us-east-1',
        stream,
        endpoint: fx.proxy.endpoint,
        credentials: { type: 'accessKey', accessKeyId: 'AKIAREEXPORTCLI001', secretAccessKeyEnv: SECRET_ENV },
      });
      const seg = `cli-${randomUUID()}`;
      await seedMembers(fx.store, profileIds(`${seg}-`, MEMBERS), { [seg]: 'realized' });
      await cli('activate', id, '--segment', seg, '--attribute', 'person.email');
      await waitFor(async () => (await client.status(id)).recentReexports.length === 1, {
        timeoutMs: 60_000,
        what: 'the back-fill',
      });

      // One shard at the service's 1,000 records/s: a forced re-export of 4,000 members outlasts the 2 s interval.
      fx.proxy.setFaults({ shardThrottling: true });
      const waited = JSON.parse(await cli('reexport', id, '--wait', '--force', '--json')) as ReexportProgress;
      assert.equal(waited.trigger, 'manual');
      assert.ok(waited.finishedAt);
      assert.equal(waited.profilesExported, MEMBERS);
      // Pages end when full or after a few seconds, so their number depends on the stream's pace.
      assert.ok(waited.pagesDone >= 1, `${waited.pagesDone} page(s)`);
      const shown = JSON.parse(await cli('status', id, '--json')) as DestinationStatus;
      assert.equal(shown.recentReexports[0]?.id, waited.id);
      assert.match(
        await cli('status', id),
        new RegExp(
          `Last re-export: +re-export ${waited.id}: ${waited.pagesDone} page\\(s\\), ${MEMBERS} member\\(s\\) read, ${MEMBERS} exported`,
        ),
      );

      const created = JSON.parse(
        await cli('schedule', 'set', id, '--every', '2s', '--force', '--json'),
      ) as ReexportScheduleInfo;
      assert.deepEqual([created.schedule, created.force, created.paused], ['every 2s', true, false]);
      const scheduled = (s: DestinationStatus) => s.recentReexports.filter((r) => r.trigger === 'schedule');
      await waitFor(async () => scheduled(await client.status(id)).length >= 2, {
        timeoutMs: 120_000,
        what: 'two scheduled re-exports',
      });
      await cli('schedule', 'pause', id);
      const listed = JSON.parse(await cli('schedule', 'list', id, '--json')) as ReexportScheduleInfo;
      assert.equal(listed.paused, true);
      assert.ok(listed.runsTaken >= 2);
      assert.ok(listed.skippedForOverlap >= 1, 'runs that came due during a re-export were skipped');

      // Every scheduled run waited for its own re-export, and the re-exports came one after another.
      const runs = (await client.status(id)).recentReexports.filter((r) => r.trigger === 'schedule').reverse();
      for (const run of runs) assert.equal(run.profilesExported, MEMBERS);
      for (let i = 1; i < runs.length; i++) {
        assert.ok(
          (runs[i]?.startedAt ?? '') >= (runs[i - 1]?.finishedAt ?? 'z'),
          `scheduled re-exports overlapped: ${JSON.stringify(runs)}`,
        );
      }
      const outcomes = await Promise.all(
        listed.recentRuns.map(
          (r) => temporal.env.client.workflow.getHandle(r.workflowId).result() as Promise<ReexportOutcome>,
        ),
      );
      const completed = outcomes.flatMap((o) => (o.outcome === 'completed' ? [o.reexport.id] : []));
      for (const run of runs)
        assert.ok(completed.includes(run.id), `re-export ${run.id} has a scheduled run that waited for it`);

      // A paused schedule still runs when triggered.
      await cli('schedule', 'trigger', id);
      await waitFor(async () => scheduled(await client.status(id)).length > runs.length, {
        timeoutMs: 60_000,
        what: 'the triggered re-export',
      });
      // The older flag spellings still work for this release.
      await cli('schedule', id, '--unpause');
      assert.equal((JSON.parse(await cli('schedule', 'list', id, '--json')) as ReexportScheduleInfo).paused, false);
      const all = JSON.parse(await cli('schedule', 'list', '--json')) as ReexportScheduleInfo[];
      assert.ok(all.some((s) => s.destinationId === id));
      await cli('schedule', id, '--delete');
      const gone = await runCli(['schedule', id, '--list'], env);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /has no re-export schedule/);

      // The actor's history (back-fill, updates, scheduled requests, answers) replays against the current code.
      const history = await temporal.env.client.workflow.getHandle(destinationWorkflowId(id)).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: temporal.bundle }, history, destinationWorkflowId(id));
      if (process.env.RECORD_REEXPORT_HISTORY)
        writeFileSync(process.env.RECORD_REEXPORT_HISTORY, historyToJSON(history));
    });
  });

  it('rejects bad schedule and re-export input with one line naming the field', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const { id } = await client.createDestination({
        name: 'bad-input',
        region: 'us-east-1',
        stream: 'none',
        endpoint: fx.emulator.endpoint,
      });
      const cases: [string[], RegExp][] = [
        [['schedule', id, '--every', '5x'], /^kinesis-activation: invalid every: must be a duration such as 30s/],
        [['schedule', id, '--cron', '* *'], /^kinesis-activation: invalid cron: must be a cron expression/],
        [['schedule', id, '--every', '1h', '--cron', '@daily'], /exactly one of --every DURATION or --cron EXPR/],
        [['schedule', id], /give one of --every DURATION/],
        [['schedule', 'set', id], /schedule set: give --every DURATION or --cron EXPR/],
        [
          ['schedule', 'set', id, '--every', '1h', '--cron', '@daily'],
          /exactly one of --every DURATION or --cron EXPR/,
        ],
        [['schedule', id, '--every', '1h', '--delete'], /give one of --every DURATION/],
        [['schedule', 'no-such-destination', '--every', '1h'], /no such destination/],
        [['reexport', id], /no activation yet: activate segments first/],
      ];
      for (const [args, expected] of cases) {
        const result = await runCli(args, env);
        assert.equal(result.code, 1, args.join(' '));
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, expected);
      }
      const schedules = JSON.parse(
        (await runCli(['schedule', '--list', '--json'], env)).stdout,
      ) as ReexportScheduleInfo[];
      assert.ok(!schedules.some((s) => s.destinationId === id), 'no schedule was created');
    });
  });
});
