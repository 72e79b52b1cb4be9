import { Context } from '@temporalio/activity';
import { totalOf } from '../domain/reasonCounts';
import type { ActivationMetrics } from '../observability/metrics';
import type { PageTarget } from './pagePipeline';
import type { ExportCounts, PutReport } from './types';

/**
 * One log line per page with its counts (never one per record), and the page's decisions in the
 * metrics. The activity logger adds workflow, run and activity ids to the line.
 */
export function reportPage(
  metrics: ActivationMetrics | undefined,
  what: 'export' | 're-export' | 'dead-letter replay',
  { destinationId, settings }: PageTarget,
  counts: ExportCounts,
  put: PutReport,
  extra: Record<string, number | string>,
): void {
  Context.current().log.info(`${what} page done`, {
    destinationId,
    ...counts,
    ...extra,
    ...put,
    stream: settings.stream,
  });
  if (!metrics) return;
  const destination = destinationId;
  const outcomes = { ...counts, excluded: totalOf(counts.excludedByReason) };
  for (const outcome of ['exported', 'skipped', 'excluded', 'deadLettered'] as const) {
    if (outcomes[outcome] > 0) metrics.profilesDecided.inc({ destination, outcome }, outcomes[outcome]);
  }
  for (const [reason, n] of Object.entries(counts.excludedByReason ?? {}))
    metrics.profilesExcluded.inc({ destination, reason }, n);
  for (const [reason, n] of Object.entries(counts.deadLetteredByReason ?? {}))
    metrics.recordsDeadLettered.inc({ destination, reason }, n);
}
