import type { Command } from 'commander';
import { openIngestSource } from '../ingestProgress';
import { emit } from '../output';
import { withClient, json } from '../context';

export function registerIngest(program: Command): void {
  program
    .command('ingest <file>')
    .description('NDJSON profile snapshots from FILE or - (stdin); prints accepted and rejected counts')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kinesis-activation ingest examples/profiles.ndjson\n  $ cat profiles.ndjson | kinesis-activation ingest - --json',
    )
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const source = openIngestSource(file, !json(cmd));
      const result = await withClient((client) => client.ingest(source.input)).finally(() => source.done());
      const lines = [
        `accepted ${result.accepted}, rejected ${result.rejected.length}`,
        ...result.rejected.map((r) => `line ${r.line}: ${r.reason}`),
      ];
      emit(
        json(cmd),
        { accepted: result.accepted, rejected: result.rejected, notified: result.notified },
        lines.join('\n'),
      );
    });
}
