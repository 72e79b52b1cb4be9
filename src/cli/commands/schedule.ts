import type { Command } from 'commander';
import type { ReexportScheduleInfo } from '../../client/reexportSchedules';
import { emit, fail } from '../output';
import { withClient, json } from '../context';

export function registerSchedule(program: Command): void {
  program
    .command('schedule [id]')
    .description(
      'scheduled re-exports of a destination (Temporal Schedules; a run that comes due while one is going is skipped)',
    )
    .option('--every <duration>', 'run every DURATION, such as 30s, 15m, 6h or 1d')
    .option('--cron <expr>', "run by cron, such as '0 3 * * *' (UTC) or @daily")
    .option('--force', 'scheduled runs send every current member (with --every or --cron)')
    .option('--delete', 'delete the schedule')
    .option('--list', "show the destination's schedule (without ID: every destination's)")
    .option('--pause', 'pause the schedule')
    .option('--unpause', 'unpause the schedule')
    .option('--trigger', 'run it now (skipped while a scheduled run is going)')
    .action(
      async (
        id: string | undefined,
        opts: {
          every?: string;
          cron?: string;
          force?: boolean;
          delete?: boolean;
          list?: boolean;
          pause?: boolean;
          unpause?: boolean;
          trigger?: boolean;
        },
        cmd: Command,
      ) => {
        const set = opts.every !== undefined || opts.cron !== undefined;
        const chosen = [set, opts.delete, opts.list, opts.pause, opts.unpause, opts.trigger].filter(Boolean).length;
        if (chosen !== 1)
          fail(
            'schedule: give one of --every DURATION / --cron EXPR, --delete, --list, --pause, --unpause or --trigger',
          );
        if (opts.force && !set) fail('schedule: --force goes with --every or --cron');
        if (opts.list && id === undefined) {
          const all = await withClient((client) => client.schedules.list());
          emit(json(cmd), all, all.length === 0 ? 'no re-export schedules' : all.map(describeSchedule).join('\n'));
          return;
        }
        if (id === undefined) fail('schedule: missing destination ID');
        await withClient(async (client) => {
          const schedules = client.schedules;
          if (set) {
            const info = await schedules.set(id, { every: opts.every, cron: opts.cron, force: opts.force });
            emit(json(cmd), info, describeSchedule(info));
          } else if (opts.list) {
            const info = await schedules.describe(id);
            emit(json(cmd), info, describeSchedule(info));
          } else if (opts.delete) {
            await schedules.delete(id);
            emit(json(cmd), { id, deleted: true }, `deleted the re-export schedule of ${id}`);
          } else if (opts.pause) {
            await schedules.pause(id);
            emit(json(cmd), { id, paused: true }, `paused the re-export schedule of ${id}`);
          } else if (opts.unpause) {
            await schedules.unpause(id);
            emit(json(cmd), { id, paused: false }, `unpaused the re-export schedule of ${id}`);
          } else {
            await schedules.trigger(id);
            emit(json(cmd), { id, triggered: true }, `triggered a re-export of ${id} by its schedule`);
          }
        });
      },
    );
}

function describeSchedule(info: ReexportScheduleInfo): string {
  const next = info.paused ? `paused${info.note ? ` (${info.note})` : ''}` : `next run ${info.nextRuns[0] ?? 'none'}`;
  const last = info.recentRuns[info.recentRuns.length - 1];
  return `${info.destinationId}: ${info.force ? 'forced ' : ''}re-export ${info.schedule}, ${next}; ${info.runsTaken} run(s)${last ? `, last ${last.takenAt}` : ''}, ${info.skippedForOverlap} skipped while one was running`;
}
