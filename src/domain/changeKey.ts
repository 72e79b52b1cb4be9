import { hash } from 'node:crypto';
import type { Activation } from './activation';
import type { ConsentRule } from './consent';
import type { ProfileSnapshot } from './profile';
import { getXdmValue, ownValue } from './xdmPath';

/**
 * A destination's change key of a snapshot is a digest of exactly what the diff looks at:
 * membership (realized or existing, or not) in each mapped segment, the identity map and the
 * value at each mapped attribute path. A read computes it for each snapshot it parses (a write
 * knows no destination, so it computes none) and a re-export read keeps it with the profile for
 * those exported before; the ledger keeps the key of the last exported snapshot.
 *
 * Equal keys mean equal memberships, identities and mapped attributes, and `decideExport` skips
 * such a snapshot whatever its unmapped data (the last export's projection was built from the
 * same values). So the export path skips a profile whose key equals its ledger key without
 * reading its snapshot, and decides every other profile in full: a differing key only means
 * "look", never "send" (a changed primary flag gives a new key and a skip).
 */
export interface ChangeKeySpec {
  /**
   * Names the mapping the key is computed under and is part of the key: a key computed for
   * another mapping never equals one for this mapping.
   */
  id: string;
  segmentIds: readonly string[];
  /** Mapped attribute paths (dotted). */
  attributes: readonly string[];
  /** The path of the destination's consent rule: a change of consent alone must be looked at. */
  consentPath?: string;
}

/** Bump when the key's make-up changes: keys written before then never match again. */
const KEY_FORMAT = 2;

/** Characters of base64url kept from the SHA-256 digest: 132 bits, no collision in practice. */
const KEY_LENGTH = 22;

export function changeKeySpecOf(activation: Activation, consent?: ConsentRule): ChangeKeySpec {
  const segmentIds = activation.segments.map((s) => s.id);
  const attributes = activation.attributes;
  // Absent parts add nothing, so keys of mappings made before they existed stay valid.
  const parts: unknown[] = [KEY_FORMAT, segmentIds, attributes];
  // The exported identities depend on the filter too: a key from under another filter must not match.
  if (activation.identityNamespaces) parts.push(activation.identityNamespaces);
  if (consent) parts.push(consent);
  const id = hash('sha256', JSON.stringify(parts), 'hex').slice(0, 16);
  return { id, segmentIds, attributes, ...(consent ? { consentPath: consent.path } : {}) };
}

/** The key of `snapshot` under `spec`: short and fixed-size, so the store keeps and compares it cheaply. */
export function changeKeyOf(spec: ChangeKeySpec, snapshot: ProfileSnapshot): string {
  const ups = snapshot.segmentMembership?.ups;
  const parts: unknown[] = [spec.id];
  for (const segmentId of spec.segmentIds) {
    const status = ups === undefined ? undefined : ownValue(ups, segmentId)?.status;
    parts.push(status === 'realized' || status === 'existing' ? 1 : 0);
  }
  parts.push(snapshot.identityMap);
  // null and absent are the same to the diff (XDM's unset).
  for (const path of spec.attributes) parts.push(getXdmValue(snapshot, path) ?? null);
  if (spec.consentPath !== undefined) parts.push(getXdmValue(snapshot, spec.consentPath) ?? null);
  return hash('sha256', JSON.stringify(parts), 'base64url').slice(0, KEY_LENGTH);
}
