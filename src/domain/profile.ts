import { z } from 'zod';

/** Keys and ids refused at every boundary: in JavaScript they name Object.prototype machinery, not data. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const reservedKeyMessage = 'is reserved (__proto__, constructor and prototype are refused as keys and ids)';

/** At most this many identities per profile (AEP keeps up to 50 in one identity graph). */
export const MAX_IDENTITIES = 100;

/** An id that is not one of the reserved keys. */
const unreserved = (schema: z.ZodString) => schema.refine((s) => !RESERVED_KEYS.has(s), reservedKeyMessage);

/** One identity of a profile, as in AEP's identityMap. */
export const identitySchema = z.object({
  id: z.string().min(1).max(1024),
  primary: z.boolean().optional(),
  authenticatedState: z.enum(['ambiguous', 'authenticated', 'loggedOut']).optional(),
});

export const segmentStatusSchema = z.enum(['realized', 'existing', 'exited']);
export type SegmentStatus = z.infer<typeof segmentStatusSchema>;

/** `2020-05-25T21:24:39Z`: UTC to the second, as the seed's records carry it. */
export function utcSeconds(dateTime: string): string {
  return new Date(dateTime).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const segmentMembershipEntrySchema = z.object({
  status: segmentStatusSchema,
  // Any offset and precision in; one form out, so consumers compare times as text.
  lastQualificationTime: z.iso.datetime({ offset: true }).transform(utcSeconds),
});

/*
 * The standard XDM field groups the seed and the README map (Person, Personal/Work Email,
 * phones, addresses): a value of the wrong type there is refused instead of being exported as
 * the wrong type. null is XDM's unset. Other fields of these objects, and other attribute
 * objects, pass as they are.
 */
const xdmString = z.string().nullable().optional();
const fieldGroup = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape).nullable().optional();
const emailGroup = fieldGroup({ address: xdmString, primary: z.boolean().nullable().optional() });
const phoneGroup = fieldGroup({ number: xdmString, primary: z.boolean().nullable().optional() });
const addressGroup = fieldGroup({
  street1: xdmString,
  street2: xdmString,
  city: xdmString,
  postalCode: xdmString,
  region: xdmString,
  stateProvince: xdmString,
  country: xdmString,
  countryCode: xdmString,
});
const personGroup = fieldGroup({
  email: xdmString,
  birthDate: xdmString,
  gender: xdmString,
  name: fieldGroup({
    firstName: xdmString,
    middleName: xdmString,
    lastName: xdmString,
    fullName: xdmString,
    courtesyTitle: xdmString,
    suffix: xdmString,
  }),
});

/**
 * A profile snapshot (input): the same shape as the export, plus an optional explicit profileId.
 * Any other top-level key is an attribute object (person, personalEmail, ...).
 */
export const profileSnapshotSchema = z
  .object({
    profileId: unreserved(z.string().min(1).max(1024)).optional(),
    identityMap: z
      .record(unreserved(z.string().min(1).max(256)), z.array(identitySchema).min(1))
      .refine((m) => Object.keys(m).length > 0, 'must contain at least one namespace')
      .refine(
        (m) => Object.values(m).reduce((n, identities) => n + identities.length, 0) <= MAX_IDENTITIES,
        `must hold at most ${MAX_IDENTITIES} identities`,
      ),
    segmentMembership: z
      .object({ ups: z.record(unreserved(z.string().min(1).max(256)), segmentMembershipEntrySchema) })
      .optional(),
    person: personGroup,
    personalEmail: emailGroup,
    workEmail: emailGroup,
    mobilePhone: phoneGroup,
    homePhone: phoneGroup,
    workPhone: phoneGroup,
    homeAddress: addressGroup,
    workAddress: addressGroup,
  })
  .catchall(z.unknown());

export type ProfileSnapshot = z.infer<typeof profileSnapshotSchema>;
export type IdentityMap = ProfileSnapshot['identityMap'];
