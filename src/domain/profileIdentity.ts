import type { ProfileSnapshot } from './profile';

/** One identity as the identity index keys it: namespace lower-cased (AEP codes are case-insensitive), id as given. */
export interface IdentityKey {
  namespace: string;
  id: string;
}

/** The identities of a snapshot, each once. */
export function identityKeysOf(snapshot: ProfileSnapshot): IdentityKey[] {
  const keys = new Map<string, IdentityKey>();
  for (const [namespace, identities] of Object.entries(snapshot.identityMap)) {
    const lower = namespace.toLowerCase();
    for (const { id } of identities) keys.set(identityKeyText({ namespace: lower, id }), { namespace: lower, id });
  }
  return [...keys.values()];
}

/** A key as one string, for maps. */
export function identityKeyText(key: IdentityKey): string {
  return JSON.stringify([key.namespace, key.id]);
}

export interface IdentityConflict {
  /** Position in the input. */
  index: number;
  reason: string;
}

/**
 * Stable profile identity: a snapshot without an explicit `profileId` that shares an identity
 * (namespace and id) with a stored profile is that profile, whatever its primary flag says, so
 * a profile keeps its id when it gains a primary identity. Only when it shares none does it
 * keep the id derived from its identities (profileIdOf). A snapshot sharing identities with two
 * different profiles is refused, never merged. An explicit `profileId` is taken as given, and
 * its identities point to it from then on.
 *
 * `owners` is the stored index (identityKeyText -> profile id) for the input's identities;
 * input order counts, so an earlier snapshot of the same call is "stored" for a later one.
 */
export function resolveProfileIds<T extends { profileId: string; snapshot: ProfileSnapshot }>(
  profiles: readonly T[],
  owners: ReadonlyMap<string, string>,
): { resolved: T[]; conflicts: IdentityConflict[] } {
  const claimed = new Map(owners);
  const resolved: T[] = [];
  const conflicts: IdentityConflict[] = [];
  profiles.forEach((profile, index) => {
    const keys = identityKeysOf(profile.snapshot).map(identityKeyText);
    let profileId = profile.profileId;
    if (profile.snapshot.profileId === undefined) {
      const matches = new Map<string, string>(); // profile id -> the first identity that matched it
      for (const key of keys) {
        const owner = claimed.get(key);
        if (owner !== undefined && !matches.has(owner)) matches.set(owner, key);
      }
      if (matches.size > 1) {
        conflicts.push({ index, reason: conflictReason(matches) });
        return;
      }
      profileId = matches.keys().next().value ?? profileId;
    }
    for (const key of keys) claimed.set(key, profileId);
    resolved.push(profileId === profile.profileId ? profile : { ...profile, profileId });
  });
  return { resolved, conflicts };
}

function conflictReason(matches: ReadonlyMap<string, string>): string {
  const named = [...matches].slice(0, 2).map(([profileId, key]) => {
    const [namespace, id] = JSON.parse(key) as [string, string];
    return `${JSON.stringify(profileId)} (by ${namespace} ${JSON.stringify(id)})`;
  });
  const more = matches.size > 2 ? ` and ${matches.size - 2} more` : '';
  return (
    `identityMap: identities belong to two different profiles, ${named.join(' and ')}${more}: ` +
    'give the line a profileId to say which it is'
  );
}
