import type { ZodType } from 'zod';
import { formatZodError } from '../domain/validationError';

/** A bad argument: one line naming the field; nothing was changed. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

/** Validates client input with zod; a failure is an InvalidInputError naming the field. */
export function parseInput<T>(schema: ZodType<T>, value: unknown, field?: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = formatZodError(parsed.error);
  throw new InvalidInputError(field ? `${field}: ${message.replace(/^: /, '')}` : message);
}
