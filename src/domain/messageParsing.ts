import type { z } from 'zod';
import { activationSchema } from './activation';
import { destinationSettingsSchema } from './destination';
import { deadLetterReplayRequestSchema, deleteRequestSchema } from './lifecycle';
import { reexportRequestSchema, scheduledReexportRequestSchema } from './reexport';
import { invalidInputMessage } from './validationError';

/** The schema of each message the destination actor takes, by the name its errors give it. */
const messageSchemas = {
  'destination settings': destinationSettingsSchema,
  activation: activationSchema,
  're-export request': reexportRequestSchema,
  'scheduled re-export request': scheduledReexportRequestSchema,
  'dead-letter replay request': deadLetterReplayRequestSchema,
  'delete request': deleteRequestSchema,
} as const;

export type MessageKind = keyof typeof messageSchemas;
export type ParsedMessage<K extends MessageKind> = z.output<(typeof messageSchemas)[K]>;

/** A parse as data (not an exception), so it can be an activity's result. */
export type MessageParse<K extends MessageKind> = { ok: true; value: ParsedMessage<K> } | { ok: false; error: string };

/** Parses one message; a failure is the boundary's one line naming the field. */
export function parseMessage<K extends MessageKind>(kind: K, value: unknown): MessageParse<K> {
  const parsed = messageSchemas[kind].safeParse(value);
  return parsed.success
    ? { ok: true, value: parsed.data as ParsedMessage<K> }
    : { ok: false, error: invalidInputMessage(kind, parsed.error) };
}
