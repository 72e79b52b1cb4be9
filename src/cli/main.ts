import { Command } from 'commander';
import { registerActivate } from './commands/activate';
import { registerCodecServer } from './commands/codecServer';
import { registerDeadLetters } from './commands/deadletters';
import { registerDestination } from './commands/destination';
import { registerDev } from './commands/dev';
import { registerForget } from './commands/forget';
import { registerIngest } from './commands/ingest';
import { registerPauseResume } from './commands/pauseResume';
import { registerPeek } from './commands/peek';
import { registerReexport } from './commands/reexport';
import { registerSchedule } from './commands/schedule';
import { registerServe } from './commands/serve';
import { registerStatus } from './commands/status';
import { registerWorker } from './commands/worker';
import { temporal } from './context';
import { describeError } from './errors';
import { errorLine, fail, useJsonErrors } from './output';
import { packageVersion } from './version';

useJsonErrors(process.argv.includes('--json'));

const program = new Command('kinesis-activation')
  .description('Stream profile segment exports to Amazon Kinesis, durably, on Temporal.')
  .version(packageVersion(), '--version', 'print the version')
  .option('--json', 'machine-readable output (errors as {"error": "..."} on stderr)')
  // Subcommands copy this when registered: each one's --help lists --json too.
  .configureHelp({ showGlobalOptions: true })
  // Usage errors stay on one line, as every failure does; --help has the rest.
  .configureOutput({
    outputError: (str, write) =>
      write(
        errorLine(
          `${str
            .trim()
            .split('\n')[0]
            ?.replace(/^error: /, '')} (see --help)`,
        ),
      ),
  });

// One module per command group; the order is the order of `--help`.
for (const register of [
  registerDev,
  registerWorker,
  registerDestination,
  registerActivate,
  registerIngest,
  registerForget,
  registerServe,
  registerPeek,
  registerStatus,
  registerReexport,
  registerSchedule,
  registerPauseResume,
  registerDeadLetters,
  registerCodecServer,
]) {
  register(program);
}

program.parseAsync(process.argv).catch((err: unknown) => fail(describeError(err, temporal)));
