import { z } from 'zod';
import { xdmPathSchema } from './activation';

// Kept apart from partitionKey.ts (which hashes with node:crypto) so workflow code can validate settings.
/** Kinesis accepts partition keys of 1 to 256 characters. */
export const MAX_PARTITION_KEY_LENGTH = 256;

/**
 * How a record's partition key is chosen. Every strategy falls back to the profile-id hash, so a
 * profile always has a key and, as long as its input does not change, always lands on one shard.
 */
export const partitionKeyStrategySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('profileIdHash') }),
  z.object({ type: z.literal('identityNamespace'), namespace: z.string().min(1) }),
  z.object({ type: z.literal('attribute'), path: xdmPathSchema }),
]);
export type PartitionKeyStrategy = z.infer<typeof partitionKeyStrategySchema>;

export const defaultPartitionKeyStrategy: PartitionKeyStrategy = { type: 'profileIdHash' };
