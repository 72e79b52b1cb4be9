import type { Command } from 'commander';
import type { ReexportSchedules, ReexportScheduleInfo } from '../../client/reexportSchedules';
import { emit, fail } from '../output';
import { withClient, json } from '../context';

interface SetOptions {
  every?: string;
  cron?: string;
  force?: boolean;
}

/** The verbs that act on one destination's schedule: what each does and what it prints. */
const ACTIONS = {
  delete: {
    help: 'delete the schedule',
    run: (s: ReexportSchedules, id: string) => s.delete(id),
    result: (id: string) => ({ id, deleted: true }),
    done: 'deleted',
  },
  pause: {
    help: 'pause the schedule',
    run: (s: ReexportSchedules, id: string) => s.pause(id),
    result: (id: string) => ({ id, paused: true }),
    done: 'paused',
  },
  resume: {
    help: 'resume a paused schedule',
    run: (s: ReexportSchedules, id: string) => s.unpause(id),
    result: (id: string) => ({ id, paused: false }),
    done: 'resumed',
  },
  trigger: {
    help: 'run it now (skipped while a scheduled run is going)',
    run: (s: ReexportSchedules, id: string) => s.trigger(id),
    result: (id: string) => ({ id, triggered: true }),
    done: 'triggered a run of',
  },
} as const;
type ActionName = keyof typeof ACTIONS;

/**
 * `schedule set|list|pause|resume|trigger|delete`. The flag spellings of earlier releases
 * (`schedule ID --every 6h`, `--delete`, `--list`, `--pause`, `--unpause`, `--trigger`) still
 * work for this release.
 */
export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('scheduled re-exports (Temporal Schedules; a run that comes due while one is going is skipped)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ kinesis-activation schedule set $ID --every 6h\n' +
        "  $ kinesis-activation schedule set $ID --cron '0 3 * * *'\n" +
        '  $ kinesis-activation schedule list\n' +
        '\nOlder spellings still accepted for this release: ' +
        'schedule ID --every D | --cron E | --delete | --list | --pause | --unpause | --trigger',
    );
  withTimingOptions(schedule.command('set <id>').description('create the schedule, or replace its timing')).action(
    // The parent declares the same timing flags (older spellings), so it may have parsed them.
    (id: string, _opts: SetOptions, cmd: Command) => setSchedule(id, cmd.optsWithGlobals<SetOptions>(), cmd),
  );
  schedule
    .command('list [id]')
    .description("the destination's schedule: timing, next and recent runs (without ID: every destination's)")
    .action((id: string | undefined, _opts: unknown, cmd: Command) => listSchedules(id, cmd));
  for (const [name, action] of Object.entries(ACTIONS) as [ActionName, (typeof ACTIONS)[ActionName]][]) {
    schedule
      .command(`${name} <id>`)
      .description(action.help)
      .action((id: string, _opts: unknown, cmd: Command) => runAction(name, id, cmd));
  }
  registerLegacyFlags(schedule);
}

function withTimingOptions(cmd: Command): Command {
  return cmd
    .option('--every <duration>', 'run every DURATION, such as 30s, 15m, 6h or 1d')
    .option('--cron <expr>', "run by cron, such as '0 3 * * *' (UTC) or @daily")
    .option('--force', 'scheduled runs send every current member');
}

async function setSchedule(id: string, opts: SetOptions, cmd: Command): Promise<void> {
  // Both at once is the client's to refuse, with the same line as every other caller gets.
  if (opts.every === undefined && opts.cron === undefined) fail('schedule set: give --every DURATION or --cron EXPR');
  const info = await withClient((client) =>
    client.schedules.set(id, { every: opts.every, cron: opts.cron, force: opts.force }),
  );
  emit(json(cmd), info, describeSchedule(info));
}

async function listSchedules(id: string | undefined, cmd: Command): Promise<void> {
  if (id === undefined) {
    const all = await withClient((client) => client.schedules.list());
    emit(json(cmd), all, all.length === 0 ? 'no re-export schedules' : all.map(describeSchedule).join('\n'));
    return;
  }
  const info = await withClient((client) => client.schedules.describe(id));
  emit(json(cmd), info, describeSchedule(info));
}

async function runAction(name: ActionName, id: string, cmd: Command): Promise<void> {
  const action = ACTIONS[name];
  await withClient((client) => action.run(client.schedules, id));
  emit(json(cmd), action.result(id), `${action.done} the re-export schedule of ${id}`);
}

interface LegacyOptions extends SetOptions {
  delete?: boolean;
  list?: boolean;
  pause?: boolean;
  unpause?: boolean;
  trigger?: boolean;
}

/** `schedule [ID] --verb`: the spelling of earlier releases, mapped onto the verbs above. */
function registerLegacyFlags(schedule: Command): void {
  withTimingOptions(schedule.argument('[id]'))
    .option('--delete', 'older spelling of `schedule delete ID`')
    .option('--list', 'older spelling of `schedule list [ID]`')
    .option('--pause', 'older spelling of `schedule pause ID`')
    .option('--unpause', 'older spelling of `schedule resume ID`')
    .option('--trigger', 'older spelling of `schedule trigger ID`')
    .action(async (id: string | undefined, opts: LegacyOptions, cmd: Command) => {
      const set = opts.every !== undefined || opts.cron !== undefined;
      const verbs = { delete: opts.delete, pause: opts.pause, resume: opts.unpause, trigger: opts.trigger };
      const chosen = [set, opts.list, ...Object.values(verbs)].filter(Boolean).length;
      if (chosen !== 1)
        fail(
          'schedule: give one of --every DURATION / --cron EXPR, or a verb: set, list, pause, resume, trigger, delete',
        );
      if (opts.force && !set) fail('schedule: --force goes with --every or --cron');
      if (opts.list) return listSchedules(id, cmd);
      if (id === undefined) fail('schedule: missing destination ID');
      if (set) return setSchedule(id, opts, cmd);
      const name = (Object.keys(verbs) as ActionName[]).find((verb) => verbs[verb]);
      if (name) await runAction(name, id, cmd);
    });
}

function describeSchedule(info: ReexportScheduleInfo): string {
  const next = info.paused ? `paused${info.note ? ` (${info.note})` : ''}` : `next run ${info.nextRuns[0] ?? 'none'}`;
  const last = info.recentRuns[info.recentRuns.length - 1];
  return (
    `${info.destinationId}: ${info.force ? 'forced ' : ''}re-export ${info.schedule}, ${next}; ` +
    `${info.runsTaken} run(s)${last ? `, last ${last.takenAt}` : ''}, ` +
    `${info.skippedForOverlap} skipped while one was running`
  );
}
