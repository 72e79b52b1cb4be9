import { Command } from 'commander';
import { registerActivate } from './commands/activate';
import { registerCodecServer } from './commands/codecServer';
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
import { fail } from './output';

const program = new Command('kinesis-activation')
  .description('Stream profile segment exports to Amazon Kinesis, durably, on Temporal.')
  .option('--json', 'machine-readable output')
  // Usage errors stay on one line, as every failure does; --help has the rest.
  .configureOutput({
    outputError: (str, write) =>
      write(
        `kinesis-activation: ${str
          .trim()
          .split('\n')[0]
          ?.replace(/^error: /, '')} (see --help)\n`,
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
  registerCodecServer,
]) {
  register(program);
}

program.parseAsync(process.argv).catch((err: unknown) => fail(describeError(err, temporal)));
