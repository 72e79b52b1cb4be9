import { hash } from 'node:crypto';
import { MAX_PARTITION_KEY_LENGTH } from './partitionKeyStrategy';
import type { PartitionKeyStrategy } from './partitionKeyStrategy';
import type { ProfileSnapshot } from './profile';
import { identitiesIn } from './profileId';
import { getXdmValue } from './xdmPath';

export {
  MAX_PARTITION_KEY_LENGTH,
  defaultPartitionKeyStrategy,
  partitionKeyStrategySchema,
} from './partitionKeyStrategy';
export type { PartitionKeyStrategy } from './partitionKeyStrategy';

/** The partition key of a profile's record: 1..256 characters. */
export function partitionKeyOf(strategy: PartitionKeyStrategy, profileId: string, snapshot: ProfileSnapshot): string {
  const chosen = chosenKey(strategy, snapshot);
  return chosen === undefined || chosen === '' ? profileIdHash(profileId) : truncate(chosen);
}

/** Hex SHA-256 of the profile id: stable across processes and spread evenly over shards. */
export function profileIdHash(profileId: string): string {
  return hash('sha256', profileId, 'hex');
}

function chosenKey(strategy: PartitionKeyStrategy, snapshot: ProfileSnapshot): string | undefined {
  switch (strategy.type) {
    case 'profileIdHash':
      return undefined;
    case 'identityNamespace':
      return identitiesIn(snapshot.identityMap, strategy.namespace)?.[0]?.id;
    case 'attribute':
      return stringify(getXdmValue(snapshot, strategy.path));
  }
}

function stringify(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Cuts to 256 UTF-16 units without splitting a surrogate pair, so the key stays valid Unicode. */
function truncate(key: string): string {
  if (key.length <= MAX_PARTITION_KEY_LENGTH) return key;
  const cut = key.slice(0, MAX_PARTITION_KEY_LENGTH);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}
