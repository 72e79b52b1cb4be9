import type { Command } from 'commander';
import { emit } from '../output';
import { withClient, json, collect } from '../context';

export function registerActivate(program: Command): void {
  program
    .command('activate <id>')
    .description('map segments and attributes to a destination; current members are exported')
    .addHelpText(
      'after',
      `\nExamples:\n  $ kinesis-activation activate $ID --segment 'seg-1=High propensity' --segment seg-2 --attribute person.email`,
    )
    .requiredOption('--segment <SEG[=NAME]>', 'segment id, optionally with its name (repeat)', collect, [])
    .option('--attribute <PATH>', 'XDM attribute path such as person.email (repeat)', collect, [])
    .action(async (id: string, opts: { segment: string[]; attribute: string[] }, cmd: Command) => {
      const now = Date.now();
      const segments = opts.segment.map((spec) => {
        const [segmentId = '', ...name] = spec.split('=');
        return {
          id: segmentId,
          ...(name.length ? { name: name.join('=') } : {}),
          mappingCreatedAt: now,
          mappingUpdatedAt: now,
        };
      });
      const status = await withClient((client) => client.activate(id, { segments, attributes: opts.attribute }));
      emit(
        json(cmd),
        status,
        `activated ${segments.length} segment(s) and ${opts.attribute.length} attribute(s) on ${id}`,
      );
    });
}
