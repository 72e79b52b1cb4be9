import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { applyMergePatch } from './mergePatch';
import { oneLine } from './oneLine';
import { profileIdOf } from './profileId';
import { RESERVED_KEYS, profileSnapshotSchema, reservedKeyMessage } from './profile';
import type { ProfileSnapshot } from './profile';
import { formatPath, formatZodError } from './validationError';
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
 * Per-line limits. A line is one profile: 4 MiB is far above any real snapshot (the Kinesis
 * record it becomes holds mapped attributes only) and bounds the memory one line can take.
 */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/**
 * Objects and arrays nested in one line, the line's object included: XDM profiles nest a few
 * levels (segmentMembership.ups.<id>.status is 4). The bound keeps every later walk of a
 * snapshot (store serialization, change keys, record building) far from the call-stack limit.
 */
export const MAX_DEPTH = 32;

/** One line's JSON value, or why the line is refused before any schema looks at it. */
export type JsonLine = { kind: 'json'; value: unknown } | { kind: 'rejected'; reason: string } | { kind: 'blank' };

/**
 * The JSON value of one raw NDJSON line, within the per-line limits: at most MAX_LINE_BYTES,
 * strict UTF-8 (a byte that is not UTF-8 refuses the line instead of becoming U+FFFD), at most
 * MAX_DEPTH levels, no reserved key at any depth. A leading byte-order mark and surrounding
 * white space (a CR of CRLF) are ignored. Never throws and never recurses on the input.
 */
export function parseJsonLine(line: Buffer | string): JsonLine {
  const bytes = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
  if (bytes > MAX_LINE_BYTES)
    return { kind: 'rejected', reason: `line is ${bytes} bytes: at most ${MAX_LINE_BYTES} (4 MiB) per line` };
  if (typeof line !== 'string' && !isUtf8(line))
    return { kind: 'rejected', reason: 'is not valid UTF-8 (save the file as UTF-8)' };
  const text = stripLine(typeof line === 'string' ? line : line.toString('utf8'));
  if (text === '') return { kind: 'blank' };
  let value: unknown;
  try {
    // V8's JSON.parse keeps its own stack: any depth parses without overflowing.
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'rejected', reason: `invalid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const reason = shapeProblem(value);
  return reason === undefined ? { kind: 'json', value } : { kind: 'rejected', reason };
}

/** A line without its byte-order mark and surrounding white space: blank when nothing is left. */
function stripLine(text: string): string {
  return text.replace(/^\uFEFF/, '').trim();
}

/**
 * Whether parseJsonLine takes a raw line as blank (neither accepted nor rejected), without
 * parsing it: a line opening with printable ASCII (JSON does) is decided without decoding.
 */
export function isBlankLine(line: Buffer): boolean {
  if (line.length > MAX_LINE_BYTES) return false;
  const start = line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf ? 3 : 0;
  const first = line[start];
  if (first === undefined) return true;
  if (first > 0x20 && first < 0x7f) return false;
  return stripLine(line.toString('utf8')) === '';
}

/** Depth and reserved keys, checked with an explicit stack: a line's nesting cannot overflow it. */
function shapeProblem(root: unknown): string | undefined {
  if (typeof root !== 'object' || root === null) return undefined;
  const stack: { value: object; path: readonly string[] }[] = [{ value: root, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, path } = item;
    if (path.length >= MAX_DEPTH)
      return `nested too deeply: more than ${MAX_DEPTH} levels of objects and arrays (at ${formatPath(path)})`;
    const isArray = Array.isArray(value);
    for (const key of Object.keys(value)) {
      if (!isArray && RESERVED_KEYS.has(key)) return `${formatPath([...path, key])}: key ${reservedKeyMessage}`;
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, path: [...path, key] });
    }
  }
  return undefined;
}

/**
 * Parses one raw NDJSON line (1-based `lineNumber`) into a validated snapshot, so readers of
 * large inputs can stream line by line without decoding: see parseJsonLine for the limits.
 */
export function parseProfileLine(line: Buffer | string, lineNumber: number): LineResult {
  const json = parseJsonLine(line);
  if (json.kind !== 'json') return json.kind === 'blank' ? json : rejected(lineNumber, json.reason);
  const result = profileSnapshotSchema.safeParse(json.value);
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
  z.object({ profileId: profileSnapshotSchema.shape.profileId.unwrap() }),
  z.object({ identityMap: profileSnapshotSchema.shape.identityMap }),
]);

/**
 * Parses one NDJSON line of merge patches (RFC 7396), each naming its profile as a snapshot does
 * (`profileId`, else the identity rules on its `identityMap`). Whether the merged snapshot is
 * valid is decided when it is merged onto the stored one (see mergeProfileSnapshot).
 */
export function parseMergePatchLine(line: Buffer | string, lineNumber: number): PatchLineResult {
  // The same per-line limits as snapshots (size, UTF-8, depth, reserved keys).
  const parsed = parseJsonLine(line);
  if (parsed.kind !== 'json') return parsed.kind === 'blank' ? parsed : rejected(lineNumber, parsed.reason);
  const json = parsed.value;
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
  if (!result.success) return { reason: oneLine(`merged snapshot is invalid: ${formatZodError(result.error)}`) };
  return { snapshot: result.data };
}

function rejected(line: number, reason: string): { kind: 'rejected'; rejected: RejectedLine } {
  // Reasons are printed one per line by the CLI.
  return { kind: 'rejected', rejected: { line, reason: oneLine(reason) } };
}
