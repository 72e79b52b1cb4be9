import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/**
 * The last `count` events of a workflow's history, one line each with its time and type (and the
 * activity type of a schedule), to show in a failure message where the time went.
 */
export async function historyTimeline(client: Client, workflowId: string, count = 30): Promise<string> {
  const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
  return (events ?? [])
    .slice(-count)
    .map((e) => {
      const at = new Date(Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6));
      const type = temporal.api.enums.v1.EventType[e.eventType ?? 0];
      const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return `${at.toISOString()} ${String(e.eventId)} ${type}${activity ? ` ${activity}` : ''}`;
    })
    .join('\n');
}
