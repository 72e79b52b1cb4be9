/**
 * Where the time of bench/fanout's (b) went, destination by destination, from their histories
 * (event times by the Temporal server's clock, on the same machine): told (the first signal after
 * the ingest began), the workflow task that schedules the first export page, export pages waiting
 * for a worker to start them, running, and the turns between pages.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';

const EventType = temporal.api.enums.v1.EventType;

/** Milliseconds of one destination's export, phase by phase. */
export interface DestinationTimeline {
  /** From the ingest's start until the destination's first signal. */
  told: number;
  /** From that signal until its first export page was scheduled (a workflow task). */
  toFirstPage: number;
  /** Export pages scheduled but not yet started (no activity slot or poller free). */
  queued: number;
  /** Export pages running (read, diff, build, put, ledger). */
  running: number;
  /** From one page's completion until the next was scheduled (workflow tasks). */
  betweenPages: number;
  pages: number;
  /** From the ingest's start until the last page completed. */
  done: number;
}

/** The median and the largest of each phase over the destinations. */
export type TimelineSummary = Record<keyof DestinationTimeline, { median: number; max: number }>;

export async function timelineOf(client: Client, workflowId: string, startedAt: number): Promise<DestinationTimeline> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = (e: temporal.api.history.v1.IHistoryEvent): number => tsToMs(e.eventTime);
  const later = events.filter((e) => at(e) >= startedAt);
  const signal = later.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  const scheduled = new Map<number, number>();
  const started = new Map<number, number>();
  const timeline: DestinationTimeline = {
    told: signal ? at(signal) - startedAt : NaN,
    toFirstPage: NaN,
    queued: 0,
    running: 0,
    betweenPages: 0,
    pages: 0,
    done: NaN,
  };
  let lastCompleted: number | undefined;
  for (const e of later) {
    if (
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportPage'
    ) {
      scheduled.set(Number(e.eventId), at(e));
      if (timeline.pages === 0 && signal) timeline.toFirstPage = at(e) - at(signal);
      if (lastCompleted !== undefined) timeline.betweenPages += at(e) - lastCompleted;
      timeline.pages += 1;
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const id = Number(e.activityTaskStartedEventAttributes?.scheduledEventId);
      const when = scheduled.get(id);
      if (when === undefined) continue;
      started.set(id, at(e));
      timeline.queued += at(e) - when;
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const when = started.get(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId));
      if (when === undefined) continue;
      timeline.running += at(e) - when;
      lastCompleted = at(e);
      timeline.done = lastCompleted - startedAt;
    }
  }
  return timeline;
}

export function summarize(timelines: readonly DestinationTimeline[]): TimelineSummary {
  const keys = Object.keys(timelines[0] ?? {}) as (keyof DestinationTimeline)[];
  return Object.fromEntries(
    keys.map((key) => {
      const values = timelines.map((t) => t[key]).sort((a, b) => a - b);
      return [key, { median: values[Math.floor(values.length / 2)] ?? NaN, max: values[values.length - 1] ?? NaN }];
    }),
  ) as TimelineSummary;
}
