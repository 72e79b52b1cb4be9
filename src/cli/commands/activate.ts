import type { Command } from 'commander';
import { checkFailureOf } from '../../client/activationClient';
import { applyActivationChange, parseIdentityNamespaces, parseTriggers } from '../../domain/activationChange';
import { InvalidInputError } from '../../domain/validationError';
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
  on?: string;
  identityNamespaces?: string;
  excludeIdentityNamespaces?: string;
  allIdentityNamespaces?: boolean;
}

/** The identity-namespace flags as a change: undefined when none is given, null for all namespaces again. */
function identityNamespacesChange(opts: ActivateOptions) {
  const given = [opts.identityNamespaces, opts.excludeIdentityNamespaces, opts.allIdentityNamespaces].filter(
    (o) => o !== undefined,
  );
  if (given.length > 1)
    throw new InvalidInputError(
      'give one of --identity-namespaces, --exclude-identity-namespaces and --all-identity-namespaces',
    );
  if (opts.identityNamespaces !== undefined) return parseIdentityNamespaces('include', opts.identityNamespaces);
  if (opts.excludeIdentityNamespaces !== undefined)
    return parseIdentityNamespaces('exclude', opts.excludeIdentityNamespaces);
  return opts.allIdentityNamespaces ? null : undefined;
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
        '  $ kinesis-activation activate $ID --on segmentation,identity --exclude-identity-namespaces phone\n' +
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
    .option(
      '--on <TRIGGERS>',
      'the changes that export a profile, comma-separated: segmentation, attribute, identity (default: all three)',
    )
    .option('--identity-namespaces <NS,...>', 'only these identity namespaces go out in identityMap')
    .option('--exclude-identity-namespaces <NS,...>', 'every identity namespace but these goes out in identityMap')
    .option('--all-identity-namespaces', 'every identity namespace goes out again (the default)')
    .action(async (id: string, opts: ActivateOptions, cmd: Command) => {
      // Bad flags are refused before anything is contacted.
      const namespaces = identityNamespacesChange(opts);
      const triggers = opts.on !== undefined ? parseTriggers(opts.on) : undefined;
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
            ...(triggers !== undefined ? { triggers } : {}),
            ...(namespaces !== undefined ? { identityNamespaces: namespaces } : {}),
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
