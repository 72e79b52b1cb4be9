import { oneLine } from './oneLine';
import { profileIdOf } from './profileId';
import { profileSnapshotSchema } from './profile';
import type { ProfileSnapshot } from './profile';
import { formatZodError } from './validationError';

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
export function parseProfileLine(line: string, lineNumber: number): LineResult {
  const text = line.replace(/^\uFEFF/, '').trim();
  if (text === '') return { kind: 'blank' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return rejected(lineNumber, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = profileSnapshotSchema.safeParse(json);
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

function rejected(line: number, reason: string): LineResult {
  // Reasons are printed one per line by the CLI.
  return { kind: 'rejected', rejected: { line, reason: oneLine(reason) } };
}
