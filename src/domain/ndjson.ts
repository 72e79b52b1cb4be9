import { z } from 'zod';
import { applyMergePatch } from './mergePatch';
import { profileIdOf } from './profileId';
import { profileSnapshotSchema } from './profile';
import type { ProfileSnapshot } from './profile';
import { formatZodError } from './validationError';
import { isJsonObject } from './xdmPath';

export interface AcceptedLine {
  line: number;
  profileId: string;
  snapshot: ProfileSnapshot;
}

export interface RejectedLine {
  line: number;
  reason: string;
}

export type LineResult =
  { kind: 'accepted'; accepted: AcceptedLine } | { kind: 'rejected'; rejected: RejectedLine } | { kind: 'blank' };

export interface ParsedProfiles {
  accepted: AcceptedLine[];
  rejected: RejectedLine[];
}

/**
 * Parses one NDJSON line (1-based `lineNumber`) into a validated snapshot, so readers of large
 * inputs can stream line by line. A leading byte-order mark is ignored (editors add one to files).
 */
export function parseProfileLine(line: Buffer | string, lineNumber: number): LineResult {
  const parsed = parseJsonLine(line, lineNumber);
  if (parsed.kind !== 'json') return parsed;
  const result = profileSnapshotSchema.safeParse(parsed.json);
  if (!result.success) return rejected(lineNumber, formatZodError(result.error));
  const snapshot = result.data;
  return { kind: 'accepted', accepted: { line: lineNumber, profileId: profileIdOf(snapshot), snapshot } };
}

/** Parses a whole NDJSON text; valid lines are taken even when others are rejected. */
export function parseProfileLines(text: string): ParsedProfiles {
  const parsed: ParsedProfiles = { accepted: [], rejected: [] };
  text.split(/\r?\n/).forEach((line, index) => {
    const result = parseProfileLine(line, index + 1);
    if (result.kind === 'accepted') parsed.accepted.push(result.accepted);
    if (result.kind === 'rejected') parsed.rejected.push(result.rejected);
  });
  return parsed;
}

/** A merge patch line: the profile it names and the RFC 7396 patch to apply to its stored snapshot. */
export interface AcceptedPatch {
  line: number;
  profileId: string;
  patch: Record<string, unknown>;
}

export type PatchLineResult =
  { kind: 'accepted'; accepted: AcceptedPatch } | { kind: 'rejected'; rejected: RejectedLine } | { kind: 'blank' };

/** What a patch must carry to name its profile: a profileId, or an identity map the id rules apply to. */
const patchNameSchema = z.union([
  z.object({ profileId: z.string().min(1).max(1024) }),
  z.object({ identityMap: profileSnapshotSchema.shape.identityMap }),
]);

/**
 * Parses one NDJSON line of merge patches (RFC 7396), each naming its profile as a snapshot does
 * (`profileId`, else the identity rules on its `identityMap`). Whether the merged snapshot is
 * valid is decided when it is merged onto the stored one (see mergeProfileSnapshot).
 */
export function parseMergePatchLine(line: Buffer | string, lineNumber: number): PatchLineResult {
  const parsed = parseJsonLine(line, lineNumber);
  if (parsed.kind !== 'json') return parsed;
  const { json } = parsed;
  if (!isJsonObject(json)) return rejected(lineNumber, 'a merge patch must be a JSON object');
  const named = patchNameSchema.safeParse(json);
  if (!named.success)
    return rejected(lineNumber, 'a merge patch must name its profile: profileId, or identityMap with an identity');
  const profileId = 'profileId' in named.data ? named.data.profileId : profileIdOf(named.data);
  return { kind: 'accepted', accepted: { line: lineNumber, profileId, patch: json } };
}

/**
 * The snapshot a patch gives when merged onto the stored one (null: unknown profile, created from
 * the patch), validated as a full snapshot is; a patch that would make it invalid is rejected.
 */
export function mergeProfileSnapshot(
  stored: ProfileSnapshot | null,
  patch: Record<string, unknown>,
): { snapshot: ProfileSnapshot } | { reason: string } {
  const result = profileSnapshotSchema.safeParse(applyMergePatch(stored ?? {}, patch));
  if (!result.success)
    return { reason: `merged snapshot is invalid: ${formatZodError(result.error)}`.replace(/\s+/g, ' ') };
  return { snapshot: result.data };
}

/** The JSON value of one line; blank lines and lines that are not JSON are told apart. */
function parseJsonLine(
  line: Buffer | string,
  lineNumber: number,
): { kind: 'json'; json: unknown } | { kind: 'rejected'; rejected: RejectedLine } | { kind: 'blank' } {
  const text = (typeof line === 'string' ? line : line.toString('utf8')).replace(/^\uFEFF/, '').trim();
  if (text === '') return { kind: 'blank' };
  try {
    return { kind: 'json', json: JSON.parse(text) };
  } catch (err) {
    return rejected(lineNumber, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function rejected(line: number, reason: string): { kind: 'rejected'; rejected: RejectedLine } {
  // Reasons are printed one per line by the CLI.
  return { kind: 'rejected', rejected: { line, reason: reason.replace(/\s+/g, ' ') } };
}
