import type { Command } from 'commander';
import { emit } from '../output';
import { describeReexportProgress, reexportProgressReporter } from '../reexportProgress';
import { withClient, json } from '../context';

export function registerReexport(program: Command): void {
  program
    .command('reexport <id>')
    .description('re-send every member of the mapped segments (diff rules apply unless --force)')
    .option('--wait', 'wait until it finished, showing progress on stderr')
    .option('--force', 'send every current member, also those unchanged since their last export')
    .action(async (id: string, opts: { wait?: boolean; force?: boolean }, cmd: Command) => {
      const result = await withClient(async (client) => {
        const started = await client.reexport(id, { force: opts.force === true });
        if (!opts.wait) return started;
        const reporter = reexportProgressReporter(process.stderr);
        try {
          return await client.waitForReexport(id, started.id, { onProgress: (p) => reporter.update(p) });
        } finally {
          reporter.stop();
        }
      });
      const human = result.finishedAt
        ? `${describeReexportProgress(result)}, ${result.profilesSkipped} skipped, ` +
          `${result.deadLettered} dead-lettered: finished`
        : `re-export ${result.id} of ${id} started${result.force ? ' (forced)' : ''}; follow it with \`status ${id}\``;
      emit(json(cmd), result, human);
    });
}
