import { z } from 'zod';
import { oneLine } from './oneLine';

type Issue = z.core.$ZodIssue;

/** A bad argument: one line naming the field; nothing was changed. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

/**
 * `invalid <what>: field.path: message` - the one line every boundary (CLI, client API,
 * signal and update validators) rejects bad input with.
 */
export function invalidInputMessage(what: string, err: z.ZodError): string {
  return `invalid ${what}: ${formatZodError(err)}`;
}

/** Parses `value`, or throws the error `reject` makes of zod's (each boundary has its error type). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, reject: (err: z.ZodError) => Error): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw reject(parsed.error);
  return parsed.data;
}

/** Parses `value`, or throws an InvalidInputError with the boundary's one line. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  return parseOrThrow(schema, value, (err) => new InvalidInputError(invalidInputMessage(what, err)));
}

/** zod's built-in English messages; an issue whose message equals one of them has no schema-written message. */
const zodEnglish = z.locales.en().localeError;

/**
 * One line, `field.path: message` per issue joined with '; ', for CLI output, rejected NDJSON
 * lines and update validators. zod's built-in messages are replaced by short ones
 * (`must not be empty` instead of `Too small: expected string to have >=1 characters`);
 * messages written on a schema (`.min(1, '...')`, `.refine(...)`) are kept.
 */
export function formatZodError(err: z.ZodError): string {
  return err.issues.map(formatIssue).join('; ');
}

/** `identityMap.ecid.0.id`; keys that would be ambiguous in a dotted path are JSON-quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key) => (typeof key === 'string' && !/^[\w$-]+$/.test(key) ? JSON.stringify(key) : String(key)))
    .join('.');
}

function formatIssue(issue: Issue): string {
  if (issue.code === 'unrecognized_keys') {
    // One line per unknown key, named like any other field, so a typo points at itself.
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: is not a known field`).join('; ');
  }
  const message = oneLine(readableMessage(issue));
  return issue.path.length === 0 ? message : `${formatPath(issue.path)}: ${message}`;
}

function readableMessage(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      // The input is gone from finished issues, so the received type is read from zod's message.
      return readableTypeMessage(issue.message);
    case 'invalid_key': {
      // A bad record key carries its reason in nested issues; the outer message is only "Invalid key in record".
      const nested = issue.issues[0];
      return `key ${nested === undefined ? 'is invalid' : readableMessage(nested)}`;
    }
    default:
      return isBuiltInMessage(issue) ? (shortMessage(issue) ?? issue.message) : issue.message;
  }
}

function isBuiltInMessage(issue: Issue): boolean {
  // Finished issues no longer carry the input; no built-in message other than invalid_type's needs it.
  const builtIn = zodEnglish({ ...issue, input: undefined });
  return issue.message === (typeof builtIn === 'string' ? builtIn : builtIn?.message);
}

function readableTypeMessage(message: string): string {
  const match = /^Invalid input: expected (\S+), received (\S+)$/.exec(message);
  if (match === null) return message;
  return match[2] === 'undefined' ? 'is required' : `expected ${match[1]}, received ${match[2]}`;
}

function shortMessage(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'too_small':
      return sizeMessage('at least', issue.minimum, issue.origin, issue.inclusive);
    case 'too_big':
      return sizeMessage('at most', issue.maximum, issue.origin, issue.inclusive);
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      // A discriminated union names the values its discriminator takes.
      return 'options' in issue && issue.options !== undefined
        ? `must be one of ${issue.options.map((v) => JSON.stringify(v)).join(', ')}`
        : undefined;
    case 'invalid_format':
      return issue.format === 'datetime'
        ? 'must be an ISO-8601 date-time such as 2020-05-25T21:24:39Z'
        : `must be a valid ${issue.format}`;
    default:
      return undefined;
  }
}

function sizeMessage(
  bound: 'at least' | 'at most',
  limit: number | bigint,
  origin: string,
  inclusive?: boolean,
): string {
  if (
    bound === 'at least' &&
    Number(limit) === 1 &&
    inclusive === true &&
    (origin === 'string' || origin === 'array')
  ) {
    return 'must not be empty';
  }
  const unit = origin === 'string' ? ' characters' : origin === 'array' || origin === 'set' ? ' items' : '';
  if (unit !== '') return `must have ${bound} ${String(limit)}${unit}`;
  const op = bound === 'at least' ? (inclusive === true ? '>=' : '>') : inclusive === true ? '<=' : '<';
  return `must be ${op} ${String(limit)}`;
}
