import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { emit, fail } from '../output';
import { withClient, json } from '../context';
import { reportUnannounced } from './ingest';

export function registerForget(program: Command): void {
  program
    .command('forget [profileIds...]')
    .description(
      'erasure: destinations that exported the profile in a mapped segment send its exit, ' +
        'then every trace of it is purged from the store',
    )
    .option('--file <file>', 'profile ids to forget, one a line')
    .addHelpText(
      'after',
      '\nUnknown ids are no error (forgotten 0). ' +
        'Exit code 75: erasure stored, destinations not told yet (the worker finishes it).\n' +
        '\nExamples:\n' +
        '  $ kinesis-activation forget p-123\n' +
        '  $ kinesis-activation forget --file erasure-requests.txt --json',
    )
    .action(async (profileIds: string[], opts: { file?: string }, cmd: Command) => {
      const fromFile = opts.file === undefined ? [] : readFileSync(opts.file, 'utf8').split(/\r?\n/);
      const ids = [...profileIds, ...fromFile.map((l) => l.trim()).filter((l) => l !== '')];
      if (ids.length === 0) fail('forget needs at least one profile id, or --file with one id a line');
      const result = await withClient((client) => client.forget(ids), { lazy: true });
      const waiting =
        result.waiting.length > 0
          ? `; waiting for exit records: ${result.waiting.join(', ')} (the worker purges them)`
          : '';
      emit(json(cmd), result, `forgotten ${result.forgotten}, exit records sent ${result.exitsSent}${waiting}`);
      reportUnannounced(result.waiting.length, result.unannounced);
    });
}
