import type { IdentityMap, ProfileSnapshot } from './profile';

type Identity = IdentityMap[string][number];

/** Namespace codes are case-insensitive in AEP (`ECID` and `ecid` are one namespace). */
const ECID_NAMESPACE = 'ecid';

/**
 * The id a profile is keyed by in the ledger and the default partition key (DESIGN §3):
 * the explicit `profileId` as given; otherwise `namespace:id` of the identity marked primary,
 * else of the first ECID, else of the first identity of the alphabetically first namespace.
 * Identity-derived ids carry their namespace (lower-cased) so that equal ids in different
 * namespaces cannot collide, and `ECID`/`ecid` spellings of one identity give one profile.
 */
export function profileIdOf(snapshot: ProfileSnapshot): string {
  if (snapshot.profileId !== undefined) return snapshot.profileId;
  const found =
    primaryIdentity(snapshot.identityMap) ??
    firstIdentityOf(snapshot.identityMap, ECID_NAMESPACE) ??
    firstIdentityOfFirstNamespace(snapshot.identityMap);
  // The snapshot schema requires at least one namespace with at least one identity.
  if (found === undefined) throw new Error('profile snapshot has no identity');
  return `${found.namespace.toLowerCase()}:${found.identity.id}`;
}

interface FoundIdentity {
  namespace: string;
  identity: Identity;
}

/** The identities of a namespace, matched case-insensitively; the first matching key in document order wins. */
export function identitiesIn(identityMap: IdentityMap, namespace: string): Identity[] | undefined {
  const wanted = namespace.toLowerCase();
  const key = Object.keys(identityMap).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? undefined : identityMap[key];
}

function primaryIdentity(identityMap: IdentityMap): FoundIdentity | undefined {
  for (const [namespace, identities] of Object.entries(identityMap)) {
    const identity = identities.find((i) => i.primary === true);
    if (identity !== undefined) return { namespace, identity };
  }
  return undefined;
}

function firstIdentityOf(identityMap: IdentityMap, namespace: string): FoundIdentity | undefined {
  const identity = identitiesIn(identityMap, namespace)?.[0];
  return identity === undefined ? undefined : { namespace, identity };
}

function firstIdentityOfFirstNamespace(identityMap: IdentityMap): FoundIdentity | undefined {
  const [namespace] = Object.keys(identityMap).sort(compareNamespaces);
  if (namespace === undefined) return undefined;
  const identity = identityMap[namespace]?.[0];
  return identity === undefined ? undefined : { namespace, identity };
}

/** Case-insensitive alphabetical order, ties broken by code units so the choice is deterministic. */
function compareNamespaces(a: string, b: string): number {
  const byLower = compareCodeUnits(a.toLowerCase(), b.toLowerCase());
  return byLower !== 0 ? byLower : compareCodeUnits(a, b);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
