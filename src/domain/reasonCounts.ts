/** Counts by reason or error code, as counters show them (`excluded{reason}`, `failed{errorCode}`). */
export type ReasonCounts = Record<string, number>;

/** The sum of two reason counts; either may be absent (results recorded before reasons were counted). */
export function addReasonCounts(a: ReasonCounts | undefined, b: ReasonCounts | undefined): ReasonCounts {
  const sum: ReasonCounts = { ...a };
  for (const [reason, n] of Object.entries(b ?? {})) sum[reason] = (sum[reason] ?? 0) + n;
  return sum;
}

/** How many in all. */
export function totalOf(counts: ReasonCounts | undefined): number {
  let total = 0;
  for (const n of Object.values(counts ?? {})) total += n;
  return total;
}
