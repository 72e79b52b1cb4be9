import { z } from 'zod';

/** A request for a re-export (the `reexport` update). */
export const reexportRequestSchema = z.strictObject({ force: z.boolean().optional() });

/** What a scheduled run sends the actor (a signal, so checked in the handler). */
export const scheduledReexportRequestSchema = z.strictObject({
  requestedBy: z.string().min(1).max(1000),
  force: z.boolean(),
});

/** An interval for Temporal Schedules: a whole number of seconds, minutes, hours or days. */
export const scheduleEverySchema = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[smhd]$/, 'must be a duration such as 30s, 15m, 6h or 1d');

/**
 * A cron expression as Temporal Schedules take it: 5 to 7 fields, or a shorthand such as @daily.
 * The server checks the fields themselves.
 */
export const scheduleCronSchema = z
  .string()
  .trim()
  .regex(
    /^(@(yearly|annually|monthly|weekly|daily|hourly)|[^\s@]+(\s+[^\s@]+){4,6})$/,
    "must be a cron expression of 5 fields such as '0 */6 * * *', or @hourly/@daily/@weekly/@monthly/@yearly",
  );

/** When scheduled re-exports run: every interval, or by cron (exactly one of the two). */
export interface ReexportSchedule {
  every?: string;
  cron?: string;
  /** Scheduled runs send every current member. */
  force?: boolean;
}
