import type { z } from 'zod';

export type Validated<T> = { success: true; data: T } | { success: false; error: string };

/**
 * Per-parse error map with short, lower-case messages (`must not be empty`) instead of zod's
 * defaults (`Too small: expected string to have >=1 characters`). Messages written on a
 * schema (`.min(1, '...')`, `.refine(...)`) still win, as zod ranks them above this map.
 */
export const readableErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `expected ${issue.expected}, received ${jsonTypeOf(issue.input)}`;
    case 'too_small':
      return sizeMessage('at least', issue.minimum, issue.origin, issue.inclusive);
    case 'too_big':
      return sizeMessage('at most', issue.maximum, issue.origin, issue.inclusive);
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'datetime'
        ? 'must be an ISO-8601 date-time such as 2020-05-25T21:24:39Z'
        : `must be a valid ${issue.format}`;
    default:
      return undefined; // zod's default message
  }
};

/** Parses with {@link readableErrorMap}; a failure becomes one line from {@link formatZodError}. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): Validated<z.output<S>> {
  const result = schema.safeParse(value, { error: readableErrorMap });
  return result.success ? { success: true, data: result.data } : { success: false, error: formatZodError(result.error) };
}

/** One line, `field.path: message` per issue joined with '; ', for CLI output, rejected lines and update validators. */
export function formatZodError(err: z.ZodError): string {
  return err.issues.map(formatIssue).join('; ');
}

function formatIssue(issue: z.core.$ZodIssue): string {
  // A bad record key carries its reason in nested issues; the outer message is only "Invalid key in record".
  const message = issue.code === 'invalid_key' ? `key ${issue.issues[0]?.message ?? 'is invalid'}` : issue.message;
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return issue.path.length === 0 ? oneLine : `${formatPath(issue.path)}: ${oneLine}`;
}

/** `identityMap.ecid.0.id`; keys that would be ambiguous in a dotted path are JSON-quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key) => (typeof key === 'string' && !/^[\w$-]+$/.test(key) ? JSON.stringify(key) : String(key)))
    .join('.');
}

function sizeMessage(bound: 'at least' | 'at most', limit: number | bigint, origin: string, inclusive?: boolean): string {
  if (bound === 'at least' && Number(limit) === 1 && inclusive && (origin === 'string' || origin === 'array')) {
    return 'must not be empty';
  }
  const unit = origin === 'string' ? ' characters' : origin === 'array' || origin === 'set' ? ' items' : '';
  if (unit !== '') return `must have ${bound} ${String(limit)}${unit}`;
  const op = bound === 'at least' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
  return `must be ${op} ${String(limit)}`;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}
