import { z } from 'zod';
import { RESERVED_KEYS, reservedKeyMessage } from './profile';

/** An XDM attribute path such as `person.name.firstName`. */
export const xdmPathSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a dotted XDM path such as person.email')
  .refine((p) => !['segmentMembership', 'identityMap', 'profileId'].includes(p.split('.')[0] ?? ''), {
    message: 'must not start with segmentMembership, identityMap or profileId',
  })
  // Ingest refuses these keys, so a mapping of them could never export anything.
  .refine((p) => !p.split('.').some((step) => RESERVED_KEYS.has(step)), `has a step that ${reservedKeyMessage}`);

const epochMillis = z.number().int().nonnegative();

/** A segment mapped to a destination, with the metadata Adobe's toggles can add to records. */
export const mappedSegmentSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(256)
    .refine((id) => !RESERVED_KEYS.has(id), reservedKeyMessage),
  name: z.string().min(1).max(1024).optional(),
  createdAt: epochMillis.optional(),
  updatedAt: epochMillis.optional(),
  mappingCreatedAt: epochMillis.optional(),
  mappingUpdatedAt: epochMillis.optional(),
});
export type MappedSegment = z.infer<typeof mappedSegmentSchema>;

/** The kinds of change that make a profile exported ("When to activate" in AEP); all by default. */
export const EXPORT_TRIGGERS = ['segmentation', 'attribute', 'identity'] as const;
export type ExportTrigger = (typeof EXPORT_TRIGGERS)[number];

const uniqueList = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item)
    .min(1, `must name at least one ${what}`)
    .refine((list) => new Set(list).size === list.length, `must not name a ${what} twice`);

/** Which identity namespaces go out in identityMap: only those listed, or all but those listed (case-insensitive). */
export const identityNamespacesSchema = z.strictObject({
  mode: z.enum(['include', 'exclude']),
  namespaces: uniqueList(z.string().min(1).max(256), 'namespace'),
});
export type IdentityNamespaces = z.infer<typeof identityNamespacesSchema>;

/** What a destination exports: the mapped segments and the mapped profile attributes. */
export const activationSchema = z.object({
  segments: z
    .array(mappedSegmentSchema)
    .min(1, 'must map at least one segment')
    .refine((s) => new Set(s.map((x) => x.id)).size === s.length, 'must not map a segment twice'),
  attributes: z.array(xdmPathSchema).refine((a) => new Set(a).size === a.length, 'must not list an attribute twice'),
  /** Absent: every trigger (activations made before triggers existed have none). */
  triggers: uniqueList(z.enum(EXPORT_TRIGGERS), 'trigger').optional(),
  /** Absent: every namespace. */
  identityNamespaces: identityNamespacesSchema.optional(),
});
export type Activation = z.infer<typeof activationSchema>;

/** The identity-namespace filter in words: `all`, `only ecid,email`, `all but phone`. */
export function describeIdentityNamespaces(filter: IdentityNamespaces | undefined): string {
  if (filter === undefined) return 'all';
  return `${filter.mode === 'include' ? 'only' : 'all but'} ${filter.namespaces.join(',')}`;
}

/** The triggers in force: those given, or all. */
export function triggersOf(activation: Activation): readonly ExportTrigger[] {
  return activation.triggers ?? EXPORT_TRIGGERS;
}
