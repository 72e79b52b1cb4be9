import type { Command } from 'commander';
import { EXIT } from '../exitCodes';
import { emit } from '../output';
import type { ReasonCounts } from '../../domain/reasonCounts';
import { formatFields, formatTable } from '../table';
import { describeReexportProgress } from '../reexportProgress';
import { withClient, json } from '../context';

export function registerStatus(program: Command): void {
  program
    .command('status <id>')
    .description(
      "a destination's state, pending profiles, counters and last error; " +
        'exits 5 in state error, 6 when its actor is gone',
    )
    .addHelpText(
      'after',
      `\nExamples:\n  $ kinesis-activation status $ID\n  $ kinesis-activation status $ID --json | jq .counters`,
    )
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const status = await withClient((client) => client.liveStatus(id));
      if (status === null) {
        emit(
          json(cmd),
          { destinationId: id, state: 'gone' },
          `State: gone (the actor of ${id} was terminated or ended; create the destination again)`,
        );
        process.exitCode = EXIT.gone;
        return;
      }
      const c = status.counters;
      const last = status.recentReexports[0];
      const fields: [string, string | false | null | undefined][] = [
        ['Destination', `${status.name} (${status.destinationId})`],
        ['Stream', status.stream],
        ['State', status.state],
        ['Pending', String(status.pending)],
        [
          'Counters',
          `received ${c.received}, exported ${c.exported}, skipped ${c.skipped}, ` +
            `excluded ${c.excluded}${byReason(c.excludedByReason)}, failed ${c.failed}${byReason(c.failedByErrorCode)}, ` +
            `dead-lettered ${c.deadLettered}${byReason(c.deadLetteredByReason)}`,
        ],
        [
          'Re-export',
          status.reexport && `running ${status.reexport.trigger} ${describeReexportProgress(status.reexport)}`,
        ],
        ['Last re-export', last && `${describeReexportProgress(last)}, finished ${last.finishedAt}`],
        ['Last error', status.lastError],
        [
          'Next retry',
          status.nextRetryAt &&
            `${status.nextRetryAt} (after ${status.failedAttempts} failed attempts), or at once on resume`,
        ],
        [
          'Permissions',
          status.permissions &&
            `${status.permissions.permissions.map((p) => `${p.permission} ${p.verdict}`).join(', ')}; ` +
              `stream ${status.permissions.streamVerdict} (checked ${status.permissions.checkedAt})`,
        ],
      ];
      const pages = status.recentPages.map((p) => [
        p.at,
        p.step,
        String(p.received),
        String(p.exported),
        String(p.skipped),
        String(p.excluded),
        String(p.deadLettered),
        Object.entries(p.failedByErrorCode)
          .map(([code, n]) => `${code} ${n}`)
          .join(', '),
        p.error ?? '',
      ]);
      const text = formatFields(fields.filter((f): f is [string, string] => Boolean(f[1])));
      const history = formatTable(
        ['page ended', 'step', 'received', 'exported', 'skipped', 'excluded', 'dead-lettered', 'failed', 'error'],
        pages,
      );
      emit(json(cmd), status, pages.length ? `${text}\n\nRecent pages, newest first:\n${history}` : text);
      if (status.state === 'error') process.exitCode = EXIT.stateError;
    });
}

/** ` (consent-missing 2, consent-refused 1)`, or nothing when there are none. */
function byReason(counts: ReasonCounts): string {
  const parts = Object.entries(counts).map(([reason, n]) => `${reason} ${n}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
