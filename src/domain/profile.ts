import { z } from 'zod';

/** One identity of a profile, as in AEP's identityMap. */
export const identitySchema = z.object({
  id: z.string().min(1),
  primary: z.boolean().optional(),
  authenticatedState: z.enum(['ambiguous', 'authenticated', 'loggedOut']).optional(),
});

export const segmentStatusSchema = z.enum(['realized', 'existing', 'exited']);
export type SegmentStatus = z.infer<typeof segmentStatusSchema>;

export const segmentMembershipEntrySchema = z.object({
  status: segmentStatusSchema,
  lastQualificationTime: z.iso.datetime({ offset: true }),
});

/**
 * A profile snapshot (input): the same shape as the export, plus an optional explicit profileId.
 * Any other top-level key is an attribute object (person, personalEmail, ...).
 */
export const profileSnapshotSchema = z
  .object({
    profileId: z.string().min(1).max(1024).optional(),
    identityMap: z
      .record(z.string().min(1), z.array(identitySchema).min(1))
      .refine((m) => Object.keys(m).length > 0, 'must contain at least one namespace'),
    segmentMembership: z.object({ ups: z.record(z.string().min(1), segmentMembershipEntrySchema) }).optional(),
  })
  .catchall(z.unknown());

export type ProfileSnapshot = z.infer<typeof profileSnapshotSchema>;
export type IdentityMap = ProfileSnapshot['identityMap'];
