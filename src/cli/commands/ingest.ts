import type { Command } from 'commander';
import { openIngestSource } from '../ingestProgress';
import { EXIT } from '../exitCodes';
import { emit } from '../output';
import { withClient, json } from '../context';

/**
 * Exit code of `ingest` and `forget` when the changes are stored (durable) but the destinations
 * could not be told (Temporal unreachable): sysexits' EX_TEMPFAIL, since the worker tells them
 * once Temporal answers and nothing needs running again.
 */
export const EXIT_STORED_NOT_ANNOUNCED = 75;

/** Says so on stderr and sets the exit code when `unannounced` gives a reason. */
export function reportUnannounced(stored: number, unannounced: string | null): void {
  if (unannounced === null) return;
  process.stderr.write(`kinesis-activation: stored ${stored}, destinations not told: ${unannounced}\n`);
  process.exitCode = EXIT_STORED_NOT_ANNOUNCED;
}

export function registerIngest(program: Command): void {
  program
    .command('ingest <file>')
    .description(
      'NDJSON profile snapshots (or, with --merge, RFC 7396 merge patches) from FILE or - (stdin), streamed: ' +
        'each accepted line is durable and its destinations told within 250 ms; ' +
        'prints accepted and rejected counts, each rejected line on stderr',
    )
    .option('--merge', 'each line is a JSON merge patch (RFC 7396) onto the stored snapshot of the profile it names')
    .addHelpText(
      'after',
      '\nExit codes: 0 stored and announced; 1 failed; ' +
        `${EXIT.rejectedLines} some lines rejected (the others stored); ` +
        `${EXIT_STORED_NOT_ANNOUNCED} stored, destinations not told (the worker tells them once Temporal answers).\n` +
        '\nExamples:\n' +
        '  $ kinesis-activation ingest examples/profiles.ndjson\n' +
        '  $ producer | kinesis-activation ingest - --json\n' +
        `  $ echo '{"profileId":"p-1","person":{"email":null}}' | kinesis-activation ingest --merge -`,
    )
    .action(async (file: string, opts: { merge?: boolean }, cmd: Command) => {
      const source = openIngestSource(file, !json(cmd));
      const result = await withClient(
        (client) =>
          client.ingest(source.input, {
            mode: opts.merge ? 'merge' : 'replace',
            ...(source.onProgress ? { onProgress: source.onProgress } : {}),
          }),
        { lazy: true },
      ).finally(() => source.done());
      // Reasons go to stderr and the exit code says some lines were refused: scripts notice.
      if (!json(cmd)) for (const r of result.rejected) process.stderr.write(`line ${r.line}: ${r.reason}\n`);
      emit(
        json(cmd),
        {
          accepted: result.accepted,
          rejected: result.rejected,
          notified: result.notified,
          unannounced: result.unannounced,
        },
        `accepted ${result.accepted}, rejected ${result.rejected.length}`,
      );
      reportUnannounced(result.accepted, result.unannounced);
      // Rejected lines need the user; unannounced changes heal by themselves.
      if (result.rejected.length > 0) process.exitCode = EXIT.rejectedLines;
    });
}
