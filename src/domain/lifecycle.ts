import { z } from 'zod';

/** A request to replay dead letters (the `replayDeadLetters` update): some profiles' letters, or all (null). */
export const deadLetterReplayRequestSchema = z.strictObject({
  profileIds: z.array(z.string().min(1).max(1024)).min(1, 'name at least one profile, or replay all').nullable(),
});

/** A request to delete a destination (the `delete` update). */
export const deleteRequestSchema = z.strictObject({ force: z.boolean().optional() });
