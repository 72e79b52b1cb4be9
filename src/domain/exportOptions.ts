import { z } from 'zod';

/** Record-shaping options of a destination (Adobe's toggles plus the post-2023 status style). */
export const exportOptionsSchema = z.object({
  includeSegmentNames: z.boolean().default(false),
  includeSegmentTimestamps: z.boolean().default(false),
  /**
   * `existing`: members already exported are sent as `existing` (the seed); `realized`: always `realized` (Adobe since
   * 2023).
   */
  statusStyle: z.enum(['existing', 'realized']).default('existing'),
  /** Adds `messageId` (see messageIdOf) to each record; off, records are exactly the seed's. */
  includeMessageId: z.boolean().default(false),
});
export type ExportOptions = z.infer<typeof exportOptionsSchema>;
