import type { Command } from 'commander';
import { checkFailureOf } from '../../client/activationClient';
import { applyActivationChange } from '../../domain/activationChange';
import { EXIT } from '../exitCodes';
import { emit, fail } from '../output';
import { withClient, json, collect } from '../context';

interface ActivateOptions {
  segment: string[];
  attribute: string[];
  addSegment: string[];
  removeSegment: string[];
  addAttribute: string[];
  removeAttribute: string[];
  replace?: boolean;
}

export function registerActivate(program: Command): void {
  program
    .command('activate <id>')
    .description(
      'map segments and attributes to a destination; current members are exported. Changes only what it names: ' +
        'a whole mapping that unmaps anything needs --replace. Exits 4 when the destination is in error',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        "  $ kinesis-activation activate $ID --segment 'seg-1=High propensity' " +
        '--segment seg-2 --attribute person.email\n' +
        '  $ kinesis-activation activate $ID --add-segment seg-3 --remove-attribute person.email\n' +
        '  $ kinesis-activation activate $ID --segment seg-3 --replace',
    )
    .option('--segment <SEG[=NAME]>', 'segment id, optionally with its name (repeat): the whole mapping', collect, [])
    .option('--attribute <PATH>', 'XDM attribute path such as person.email (repeat): the whole mapping', collect, [])
    .option('--add-segment <SEG[=NAME]>', 'map one more segment (repeat)', collect, [])
    .option('--remove-segment <SEG>', 'unmap a segment (repeat)', collect, [])
    .option('--add-attribute <PATH>', 'map one more attribute (repeat)', collect, [])
    .option('--remove-attribute <PATH>', 'unmap an attribute (repeat)', collect, [])
    .option('--replace', 'confirm that --segment/--attribute replace the whole mapping, unmapping what they leave out')
    .action(async (id: string, opts: ActivateOptions, cmd: Command) => {
      const { status, diff } = await withClient(async (client) => {
        const { activation, diff } = applyActivationChange(
          (await client.status(id)).activation,
          {
            segments: opts.segment,
            attributes: opts.attribute,
            addSegments: opts.addSegment,
            removeSegments: opts.removeSegment,
            addAttributes: opts.addAttribute,
            removeAttributes: opts.removeAttribute,
            replace: opts.replace === true,
          },
          Date.now(),
        );
        return { status: await client.activate(id, activation), diff };
      });
      const mapping = status.activation;
      emit(
        json(cmd),
        status,
        [
          ...diff,
          `activated ${mapping?.segments.length ?? 0} segment(s) and ${mapping?.attributes.length ?? 0} attribute(s) ` +
            `on ${id}${diff.length ? '' : ' (unchanged)'}`,
        ].join('\n'),
      );
      const failure = checkFailureOf(status);
      if (failure) fail(`destination ${id} is activated, but in error: ${failure}`, EXIT.checkFailed);
    });
}
