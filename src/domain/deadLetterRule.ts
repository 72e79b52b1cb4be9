import type { Activation } from './activation';
import { decideExport } from './diff';
import type { DecideOptions, ExportDecision } from './diff';
import type { ExportOptions } from './exportOptions';
import type { ProfileSnapshot } from './profile';
import type { Projection } from './projection';

/**
 * How a profile with a dead letter at the destination is decided: as any profile, or `parked`
 * (nothing sent, its letter kept for `deadletters replay`).
 */
export type OwedDecision = ExportDecision | { kind: 'parked' };

export interface OwedOptions extends DecideOptions {
  /** A dead-letter replay sends what the letter owes. */
  replay: boolean;
}

/**
 * A dead-lettered export is owed, not sent. The ledger keeps what the consumer last received
 * (it moves only on acknowledgement, DESIGN §4), so statuses are always decided against it; the
 * letter keeps the projection of the export that failed (`owed`). While nothing mapped changed
 * since that export (an unrelated rewrite of the snapshot), the profile is parked: no record, as
 * for any unmapped change, and no second letter. A mapped change is decided against the ledger
 * as usual, and so are a replay and a forced re-export. Letters of earlier versions carry no
 * projection (null): their profiles are decided against the ledger alone.
 */
export function decideOwed(
  snapshot: ProfileSnapshot,
  previous: Projection | null,
  owed: Projection | null,
  activation: Activation,
  options: ExportOptions,
  { replay, ...decide }: OwedOptions,
): OwedDecision {
  const decision = decideExport(snapshot, previous, activation, options, decide);
  if (decision.kind === 'skip' || owed === null || decide.force || replay) return decision;
  return decideExport(snapshot, owed, activation, options, decide).kind === 'skip' ? { kind: 'parked' } : decision;
}
