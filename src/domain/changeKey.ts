import { hash } from 'node:crypto';
import type { Activation } from './activation';

/**
 * What a destination's change key is made of. The store computes the key of each snapshot it
 * reads (in SQL, without handing the snapshot to JavaScript) from exactly what the diff looks
 * at: membership (realized or existing, or not) in each mapped segment, the identity map and the
 * value at each mapped attribute path. The ledger keeps the key of the last exported snapshot.
 *
 * Equal keys mean equal memberships, identities and mapped attributes, and `decideExport` skips
 * such a snapshot whatever its unmapped data (the last export's projection was built from the
 * same values). So the export path skips a profile whose key equals its ledger key without
 * parsing its snapshot, and decides every other profile in full: a differing key only means
 * "look", never "send" (a changed qualification time or primary flag gives a new key and a skip).
 */
export interface ChangeKeySpec {
  /**
   * Names the mapping the key was computed under and is part of the key: a key computed for
   * another mapping never equals one for this mapping.
   */
  id: string;
  segmentIds: readonly string[];
  /** Mapped attribute paths, split into steps. */
  attributePaths: readonly (readonly string[])[];
}

/** Bump when the key's make-up changes: keys written before then never match again. */
const KEY_FORMAT = 1;

/**
 * The change key spec of a mapping, or null when the key cannot be trusted to see every change:
 * a segment id with a lone UTF-16 surrogate does not survive the trip to the database intact, so
 * such a mapping is always decided in full.
 */
export function changeKeySpecOf(activation: Activation): ChangeKeySpec | null {
  const segmentIds = activation.segments.map((s) => s.id);
  const attributePaths = activation.attributes.map((path) => path.split('.'));
  if ([...segmentIds, ...attributePaths.flat()].some((step) => LONE_SURROGATE.test(step))) return null;
  const id = hash('sha256', JSON.stringify([KEY_FORMAT, segmentIds, attributePaths]), 'hex').slice(0, 16);
  return { id, segmentIds, attributePaths };
}

const LONE_SURROGATE = /\p{Surrogate}/u;
