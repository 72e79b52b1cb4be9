import { describeIdentityNamespaces, EXPORT_TRIGGERS, triggersOf } from './activation';
import type { Activation, ExportTrigger, IdentityNamespaces, MappedSegment } from './activation';
import { InvalidInputError } from './validationError';

/**
 * What `activate` was asked: a whole mapping (segments, attributes), or additions and removals,
 * and/or the triggers and identity namespaces (undefined: unchanged; namespaces null: all again).
 */
export interface ActivationChange {
  segments: string[];
  attributes: string[];
  addSegments: string[];
  removeSegments: string[];
  addAttributes: string[];
  removeAttributes: string[];
  replace: boolean;
  triggers?: ExportTrigger[];
  identityNamespaces?: IdentityNamespaces | null;
}

/** `--on segmentation,attribute`: a comma-separated list of triggers, refused naming the flag. */
export function parseTriggers(list: string): ExportTrigger[] {
  const given = list.split(',').map((t) => t.trim());
  for (const trigger of given)
    if (!(EXPORT_TRIGGERS as readonly string[]).includes(trigger))
      throw new InvalidInputError(`--on: "${trigger}" is not a trigger (${EXPORT_TRIGGERS.join(', ')})`);
  return given as ExportTrigger[];
}

/** `--identity-namespaces ecid,email` / `--exclude-identity-namespaces phone` as a filter. */
export function parseIdentityNamespaces(mode: IdentityNamespaces['mode'], list: string): IdentityNamespaces {
  return { mode, namespaces: list.split(',').map((n) => n.trim()) };
}

/** `SEG[=NAME]` as given on the command line. */
export function parseSegmentSpec(spec: string): { id: string; name?: string } {
  const [id = '', ...name] = spec.split('=');
  return name.length ? { id, name: name.join('=') } : { id };
}

/**
 * The mapping `change` makes of `current` (null: none yet), with one line per difference
 * (`+ segment s`, `- attribute person.email`). Only what it names changes: a segment still
 * mapped keeps its mappingCreatedAt (and mappingUpdatedAt unless its name changes). A whole
 * mapping that would unmap anything is refused without `replace`.
 */
export function applyActivationChange(
  current: Activation | null,
  change: ActivationChange,
  now: number,
): { activation: Activation; diff: string[] } {
  const incremental =
    change.addSegments.length +
      change.removeSegments.length +
      change.addAttributes.length +
      change.removeAttributes.length >
    0;
  if (incremental && (change.segments.length > 0 || change.attributes.length > 0))
    throw new InvalidInputError(
      'give either --segment/--attribute (the whole mapping) or --add-*/--remove-*, not both',
    );
  // Triggers or namespaces alone keep the mapping as it is.
  const mappingKept =
    !incremental &&
    change.segments.length === 0 &&
    change.attributes.length === 0 &&
    (change.triggers !== undefined || change.identityNamespaces !== undefined);
  if ((!incremental && !mappingKept && change.segments.length === 0) || (mappingKept && current === null))
    throw new InvalidInputError('segments: give --segment (the whole mapping) or --add-segment/--remove-segment');
  const before = current ?? { segments: [], attributes: [] };
  const previous = new Map(before.segments.map((s) => [s.id, s]));
  let wanted: { id: string; name?: string }[];
  let attributes: string[];
  if (incremental || mappingKept) {
    for (const id of change.removeSegments)
      if (!previous.has(id)) throw new InvalidInputError(`--remove-segment ${id}: is not mapped`);
    for (const path of change.removeAttributes)
      if (!before.attributes.includes(path)) throw new InvalidInputError(`--remove-attribute ${path}: is not mapped`);
    const added = new Map(change.addSegments.map(parseSegmentSpec).map((s) => [s.id, s]));
    // In mapping order (the order of records' keys): a segment added again is renamed in place.
    wanted = [
      ...before.segments
        .filter((s) => !change.removeSegments.includes(s.id))
        .map((s) => added.get(s.id) ?? { id: s.id, ...(s.name === undefined ? {} : { name: s.name }) }),
      ...[...added.values()].filter((s) => !previous.has(s.id)),
    ];
    attributes = [
      ...before.attributes.filter((a) => !change.removeAttributes.includes(a)),
      ...change.addAttributes.filter((a) => !before.attributes.includes(a)),
    ];
  } else {
    wanted = change.segments.map(parseSegmentSpec);
    attributes = change.attributes;
  }
  const segments = wanted.map((s) => mappedSegment(s, previous.get(s.id), now));
  const triggers = change.triggers ?? before.triggers;
  const identityNamespaces =
    change.identityNamespaces === null ? undefined : (change.identityNamespaces ?? before.identityNamespaces);
  const activation: Activation = {
    segments,
    attributes,
    // Every trigger is the default: the field stays absent, as in activations made before triggers.
    ...(triggers !== undefined && triggers.length < EXPORT_TRIGGERS.length ? { triggers } : {}),
    ...(identityNamespaces !== undefined ? { identityNamespaces } : {}),
  };
  const diff = diffLines(before, activation);
  if (!incremental && !change.replace && current !== null && diff.some((line) => line.startsWith('-')))
    throw new InvalidInputError(
      `this replaces the whole mapping and unmaps ${diff
        .filter((l) => l.startsWith('-'))
        .map((l) => l.slice(2))
        .join(', ')}: ` +
        'add --replace to confirm, or use --add-segment/--remove-segment/--add-attribute/--remove-attribute',
    );
  return { activation, diff };
}

function mappedSegment(
  wanted: { id: string; name?: string },
  previous: MappedSegment | undefined,
  now: number,
): MappedSegment {
  if (previous === undefined) return { ...wanted, mappingCreatedAt: now, mappingUpdatedAt: now };
  const renamed = wanted.name !== undefined && wanted.name !== previous.name;
  return {
    ...previous,
    ...(wanted.name === undefined ? {} : { name: wanted.name }),
    ...(renamed ? { mappingUpdatedAt: now } : {}),
  };
}

function diffLines(before: Activation, after: Activation): string[] {
  const ids = (a: Activation) => a.segments.map((s) => s.id);
  const lines: string[] = [];
  for (const id of ids(before)) if (!ids(after).includes(id)) lines.push(`- segment ${id}`);
  for (const s of after.segments) {
    const old = before.segments.find((b) => b.id === s.id);
    if (old === undefined) lines.push(`+ segment ${s.id}${s.name === undefined ? '' : ` (${s.name})`}`);
    else if (old.name !== s.name) lines.push(`~ segment ${s.id} named ${s.name ?? ''}`);
  }
  for (const a of before.attributes) if (!after.attributes.includes(a)) lines.push(`- attribute ${a}`);
  for (const a of after.attributes) if (!before.attributes.includes(a)) lines.push(`+ attribute ${a}`);
  const triggers = (a: Activation) => triggersOf(a).join(',');
  if (triggers(before) !== triggers(after)) lines.push(`~ triggers ${triggers(after)}`);
  const namespaces = (a: Activation) => describeIdentityNamespaces(a.identityNamespaces);
  if (namespaces(before) !== namespaces(after)) lines.push(`~ identity namespaces ${namespaces(after)}`);
  return lines;
}
