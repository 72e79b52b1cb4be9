import type { Command } from 'commander';
import { openIngestSource } from '../ingestProgress';
import { EXIT } from '../exitCodes';
import { emit } from '../output';
import { withClient, json } from '../context';

export function registerIngest(program: Command): void {
  program
    .command('ingest <file>')
    .description(
      'NDJSON profile snapshots from FILE or - (stdin); prints accepted and rejected counts, each rejected line on stderr; exits 3 when any line was rejected',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ kinesis-activation ingest examples/profiles.ndjson\n  $ cat profiles.ndjson | kinesis-activation ingest - --json',
    )
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const source = openIngestSource(file, !json(cmd));
      const result = await withClient((client) => client.ingest(source.input)).finally(() => source.done());
      // Reasons go to stderr and the exit code says some lines were refused: scripts notice.
      if (!json(cmd)) for (const r of result.rejected) process.stderr.write(`line ${r.line}: ${r.reason}\n`);
      emit(
        json(cmd),
        { accepted: result.accepted, rejected: result.rejected, notified: result.notified },
        `accepted ${result.accepted}, rejected ${result.rejected.length}`,
      );
      if (result.rejected.length > 0) process.exitCode = EXIT.rejectedLines;
    });
}
