import { InvalidArgumentError } from 'commander';
import type { ZodType } from 'zod';
import { consentRuleSchema } from '../domain/consent';
import type { ConsentRule } from '../domain/consent';
import { destinationSettingsSchema } from '../domain/destination';
import { partitionKeyStrategySchema } from '../domain/partitionKeyStrategy';
import type { PartitionKeyStrategy } from '../domain/partitionKeyStrategy';
import { formatZodError, parseOrThrow } from '../domain/validationError';

const UNITS: Record<string, number> = { '': 1, KiB: 1024, MiB: 1024 * 1024 };

/**
 * `--partition-key`: `hash` (a stable hash of the profile id), `identity:NAMESPACE` (the
 * profile's first identity in that namespace) or `attribute:XDM.PATH` (that attribute's value).
 */
export function parsePartitionKeyOption(spec: string): PartitionKeyStrategy {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const value = colon < 0 ? undefined : spec.slice(colon + 1);
  if (kind === 'hash' && value === undefined) return { type: 'profileIdHash' };
  if (kind === 'identity' && value !== undefined)
    return validated(partitionKeyStrategySchema, { type: 'identityNamespace', namespace: value });
  if (kind === 'attribute' && value !== undefined)
    return validated(partitionKeyStrategySchema, { type: 'attribute', path: value });
  throw new InvalidArgumentError('must be hash, identity:NAMESPACE or attribute:XDM.PATH');
}

/** A size in bytes, or with a KiB or MiB suffix (`16MiB`). */
export function parseByteSize(text: string): number {
  const match = /^(\d+)(KiB|MiB)?$/.exec(text.trim());
  if (!match)
    throw new InvalidArgumentError(
      'must be a whole number of bytes, optionally with KiB or MiB (e.g. 1048576 or 10MiB)',
    );
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1);
}

/** `--consent XDM.PATH=VALUE[,VALUE...]`: export only profiles whose value at the path is one of those given. */
export function parseConsentOption(spec: string): ConsentRule {
  const at = spec.indexOf('=');
  if (at < 0) throw new InvalidArgumentError('must be XDM.PATH=VALUE[,VALUE...], e.g. consents.share.val=y');
  return validated(consentRuleSchema, { path: spec.slice(0, at), allowed: spec.slice(at + 1).split(',') });
}

/** `--max-record-bytes`: bytes, or with a KiB or MiB suffix (`1MiB`; streams that opted in take up to `10MiB`). */
export function parseMaxRecordBytesOption(text: string): number {
  return validated(destinationSettingsSchema.shape.maxRecordBytes.unwrap(), parseByteSize(text));
}

/** The value if the settings schema accepts it; else the schema's own one-line reason. */
function validated<T>(schema: ZodType<T>, value: unknown): T {
  return parseOrThrow(schema, value, (err) => new InvalidArgumentError(formatZodError(err)));
}
