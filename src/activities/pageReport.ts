import { Context } from '@temporalio/activity';
import type { ActivationMetrics } from '../observability/metrics';
import type { PageTarget } from './pagePipeline';
import type { ExportCounts, PutReport } from './types';

/**
 * One log line per page with its counts (never one per record), and the page's decisions in the
 * metrics. The activity logger adds workflow, run and activity ids to the line.
 */
export function reportPage(
  metrics: ActivationMetrics | undefined,
  what: 'export' | 're-export',
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
  for (const outcome of ['exported', 'skipped', 'deadLettered'] as const) {
    if (counts[outcome] > 0) metrics.profilesDecided.inc({ destination: destinationId, outcome }, counts[outcome]);
  }
  if (counts.deadLettered > 0) metrics.recordsDeadLettered.inc({ destination: destinationId }, counts.deadLettered);
}
