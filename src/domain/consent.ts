import { z } from 'zod';
import { xdmPathSchema } from './activation';
import type { ProfileSnapshot } from './profile';
import { getXdmValue } from './xdmPath';

/**
 * A destination's consent rule: a profile is exported only while the value at `path` is one of
 * `allowed` (XDM's consent field group: `consents.share.val` is `y`, `n`, `p`, ...).
 */
export const consentRuleSchema = z.strictObject({
  path: xdmPathSchema,
  allowed: z
    .array(z.string().min(1, 'must not be empty').max(256))
    .min(1, 'must name at least one value that allows export'),
});
export type ConsentRule = z.infer<typeof consentRuleSchema>;

/** Why a profile a destination would export is held back: its consent value is absent, or not an allowed one. */
export type ExcludeReason = 'consent-missing' | 'consent-refused';

/** Why `snapshot` fails `rule`, or null when it passes (or there is no rule). Values compare as strings. */
export function consentExclusion(rule: ConsentRule | undefined, snapshot: ProfileSnapshot): ExcludeReason | null {
  if (rule === undefined) return null;
  const value = getXdmValue(snapshot, rule.path);
  if (value === undefined || value === null) return 'consent-missing';
  const text =
    typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? `${value}` : null;
  return text !== null && rule.allowed.includes(text) ? null : 'consent-refused';
}
