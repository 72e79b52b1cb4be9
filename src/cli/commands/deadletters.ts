import type { Command } from 'commander';
import { emit, fail } from '../output';
import { formatTable } from '../table';
import { withClient, json } from '../context';

export function registerDeadLetters(program: Command): void {
  const deadletters = program
    .command('deadletters')
    .description('records a destination could not send (too large, invalid): list, replay once fixed, purge');
  deadletters
    .command('list <id>')
    .description("the destination's dead letters: profile, reason, when and size, oldest first")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const letters = await withClient((client) => client.deadLetters(id));
      emit(
        json(cmd),
        letters,
        letters.length === 0
          ? `no dead letters for ${id}`
          : formatTable(
              ['profile', 'reason', 'when', 'bytes'],
              letters.map((l) => [l.profileId, l.reason, l.at, String(l.bytes)]),
            ),
      );
    });
  deadletters
    .command('replay <id> [profileIds...]')
    .description(
      'send again, through the export path with the current settings, what the dead letters of these profiles ' +
        '(or --all) owe; a record refused again stays a dead letter',
    )
    .option('--all', 'replay every dead letter of the destination')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ kinesis-activation destination update $ID --max-record-bytes 2MiB\n' +
        '  $ kinesis-activation deadletters replay $ID --all\n' +
        '  $ kinesis-activation deadletters replay $ID p-1 p-2',
    )
    .action(async (id: string, profileIds: string[], opts: { all?: boolean }, cmd: Command) => {
      if (opts.all === true && profileIds.length > 0) fail('deadletters replay: give --all or PROFILE_IDs, not both');
      if (opts.all !== true && profileIds.length === 0)
        fail('deadletters replay: give --all or at least one PROFILE_ID');
      const result = await withClient((client) => client.replayDeadLetters(id, opts.all === true ? null : profileIds));
      emit(
        json(cmd),
        result,
        `replayed ${result.decided} dead letters of ${id}: ${result.exported} sent, ` +
          `${result.deadLettered} dead-lettered again, ${result.skipped} owed nothing; ${result.remaining} left`,
      );
    });
  deadletters
    .command('purge <id>')
    .description('delete every dead letter of the destination (their records are not sent)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const purged = await withClient((client) => client.purgeDeadLetters(id));
      emit(json(cmd), { id, purged }, `purged ${purged} dead letters of ${id}`);
    });
}
