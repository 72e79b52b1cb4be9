import type { DestinationRow, LedgerHolding, Store } from '../store/store';

/** How long a purge waits for exits a destination owes (stopped, paused); then the profile is purged anyway. */
export const ERASURE_EXIT_WAIT_MS = 24 * 60 * 60 * 1000;

/**
 * The exits still owed: per profile, the destinations whose ledger shows it a member of a
 * segment the destination maps now (its last export showed it there, and no exit went out since).
 */
export function exitsOwed(
  holdings: readonly LedgerHolding[],
  destinations: readonly DestinationRow[],
): Map<string, string[]> {
  const mapped = new Map(destinations.map((d) => [d.id, new Set(d.activation?.segments.map((s) => s.id) ?? [])]));
  const owed = new Map<string, string[]>();
  for (const { destinationId, profileId, projection } of holdings) {
    const segments = mapped.get(destinationId);
    const member = Object.entries(projection.segments).some(
      ([id, entry]) => entry.status !== 'exited' && segments?.has(id) === true,
    );
    if (member) owed.set(profileId, [...(owed.get(profileId) ?? []), destinationId]);
  }
  return owed;
}

/**
 * Purges the profiles with an erasure request (those of `profileIds`, or all) that owe no exit
 * any more, or whose request is older than `maxWaitMs`; returns the ids purged and the exits
 * still owed by the others.
 */
export async function purgeErased(
  store: Store,
  profileIds?: string[],
  maxWaitMs = ERASURE_EXIT_WAIT_MS,
): Promise<{ purged: string[]; owed: Map<string, string[]> }> {
  const pending = await store.pendingErasures(profileIds);
  if (pending.length === 0) return { purged: [], owed: new Map() };
  const ids = pending.map((p) => p.profileId);
  const owed = exitsOwed(await store.ledgerHoldings(ids), await store.listDestinations());
  const overdue = Date.now() - maxWaitMs;
  const purged = pending
    .filter((p) => !owed.has(p.profileId) || p.requestedAt.getTime() <= overdue)
    .map((p) => p.profileId);
  await store.purgeProfiles(purged);
  for (const id of purged) owed.delete(id);
  return { purged, owed };
}
