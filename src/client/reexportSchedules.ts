import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleDescription, ScheduleOptionsStartWorkflowAction, ScheduleSpec } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { destinationIdSchema } from '../domain/destination';
import { destinationWorkflowId } from '../domain/destinationWorkflowId';
import { scheduleCronSchema, scheduleEverySchema } from '../domain/reexport';
import type { ReexportSchedule } from '../domain/reexport';
import { DESTINATION_ID } from '../searchAttributes';
import type { ScheduledReexportInput } from '../workflows/messages';
import { scheduledReexportWorkflow } from '../workflows';
import { InvalidInputError, parseInput } from '../domain/validationError';

const SCHEDULE_ID_PREFIX = 'reexport-';

/** One re-export schedule per destination, so its overlap policy covers every scheduled run. */
export function reexportScheduleId(destinationId: string): string {
  return `${SCHEDULE_ID_PREFIX}${destinationId}`;
}

/** A re-export schedule as `schedule --list` shows it. Times are ISO-8601. */
export interface ReexportScheduleInfo {
  destinationId: string;
  scheduleId: string;
  /** `every 6h` or `cron 0 0 * * *`, as it was set. */
  schedule: string;
  force: boolean;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  recentRuns: { workflowId: string; scheduledAt: string; takenAt: string }[];
  /** Scheduled runs still waiting for their re-export to finish (one at most, by the overlap policy). */
  running: string[];
  runsTaken: number;
  skippedForOverlap: number;
}

/**
 * Scheduled re-exports through Temporal Schedules. Each run starts scheduledReexportWorkflow,
 * which asks the destination's actor for a re-export and waits for it; the overlap policy SKIP
 * drops a run that comes due while the previous one is still going (a re-export started later
 * re-reads every member anyway, so a buffered run would only repeat it).
 */
export class ReexportSchedules {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** Refuses the id of a deleted destination (see ActivationClient.refuseDeleted). */
    private readonly refuseDeleted: (destinationId: string) => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Creates the destination's schedule, or replaces its timing (keeping paused state and history). */
  async set(destinationId: string, schedule: ReexportSchedule): Promise<ReexportScheduleInfo> {
    const id = parseInput(destinationIdSchema, destinationId, 'destination id');
    if ((schedule.every === undefined) === (schedule.cron === undefined)) {
      throw new InvalidInputError('schedule: give exactly one of --every DURATION or --cron EXPR');
    }
    const force = schedule.force === true;
    let spec: ScheduleSpec;
    let description: string;
    if (schedule.every !== undefined) {
      const every = parseInput(scheduleEverySchema, schedule.every, 'every');
      // The schema admits only what Temporal's duration format reads (a whole number and s, m, h or d).
      spec = { intervals: [{ every: every as Duration }] };
      description = `every ${every}`;
    } else {
      const cron = parseInput(scheduleCronSchema, schedule.cron, 'cron');
      spec = { cronExpressions: [cron] };
      description = `cron ${cron}`;
    }
    await this.refuseDeleted(id);
    await this.requireDestination(id);
    const input: ScheduledReexportInput = { destinationId: id, force };
    const action: ScheduleOptionsStartWorkflowAction<typeof scheduledReexportWorkflow> = {
      type: 'startWorkflow',
      workflowType: scheduledReexportWorkflow,
      taskQueue: this.taskQueue,
      workflowId: reexportScheduleId(id),
      args: [input],
      memo: { schedule: description },
      typedSearchAttributes: [{ key: DESTINATION_ID, value: id }],
      staticSummary: `${force ? 'forced ' : ''}re-export of destination ${id} (${description})`,
    };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP };
    try {
      await this.client.schedule.create({ scheduleId: reexportScheduleId(id), spec, action, policies });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await this.handle(id).update((previous) => ({ spec, action, policies, state: previous.state }));
    }
    return this.describe(id);
  }

  async describe(destinationId: string): Promise<ReexportScheduleInfo> {
    const id = parseInput(destinationIdSchema, destinationId, 'destination id');
    return toInfo(id, await this.existing(id, (handle) => handle.describe()));
  }

  /** Every destination's re-export schedule. */
  async list(): Promise<ReexportScheduleInfo[]> {
    const infos: ReexportScheduleInfo[] = [];
    for await (const summary of this.client.schedule.list()) {
      if (!summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) continue;
      const destinationId = summary.scheduleId.slice(SCHEDULE_ID_PREFIX.length);
      infos.push(toInfo(destinationId, await this.client.schedule.getHandle(summary.scheduleId).describe()));
    }
    return infos.sort((a, b) => a.destinationId.localeCompare(b.destinationId));
  }

  async delete(destinationId: string): Promise<void> {
    await this.existing(parseInput(destinationIdSchema, destinationId, 'destination id'), (handle) => handle.delete());
  }

  async pause(destinationId: string, note = 'paused with kinesis-activation schedule --pause'): Promise<void> {
    await this.existing(parseInput(destinationIdSchema, destinationId, 'destination id'), (handle) =>
      handle.pause(note),
    );
  }

  async unpause(destinationId: string): Promise<void> {
    await this.existing(parseInput(destinationIdSchema, destinationId, 'destination id'), (handle) =>
      handle.unpause('unpaused with kinesis-activation schedule --unpause'),
    );
  }

  /** Runs the schedule's action now; skipped, like a due run, while the previous scheduled run is going. */
  async trigger(destinationId: string): Promise<void> {
    await this.existing(parseInput(destinationIdSchema, destinationId, 'destination id'), (handle) =>
      handle.trigger(ScheduleOverlapPolicy.SKIP),
    );
  }

  private handle(destinationId: string) {
    return this.client.schedule.getHandle(reexportScheduleId(destinationId));
  }

  private async existing<T>(
    destinationId: string,
    fn: (handle: ReturnType<ReexportSchedules['handle']>) => Promise<T>,
  ): Promise<T> {
    await this.refuseDeleted(destinationId);
    try {
      return await fn(this.handle(destinationId));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) {
        throw new InvalidInputError(
          `destination ${destinationId} has no re-export schedule; ` +
            `create one with schedule ${destinationId} --every DURATION or --cron EXPR`,
        );
      }
      throw err;
    }
  }

  /** A schedule for a destination that does not exist would fail on every run: refuse it now. */
  private async requireDestination(destinationId: string): Promise<void> {
    const { status } = await this.client.workflow.getHandle(destinationWorkflowId(destinationId)).describe();
    if (status.name !== 'RUNNING')
      throw new InvalidInputError(
        `destination ${destinationId} is not running (its actor is ${status.name.toLowerCase()})`,
      );
  }
}

function toInfo(destinationId: string, d: ScheduleDescription): ReexportScheduleInfo {
  const memo = d.action.memo ?? {};
  const input = d.action.args?.[0] as Partial<ScheduledReexportInput> | undefined;
  return {
    destinationId,
    scheduleId: d.scheduleId,
    schedule: typeof memo.schedule === 'string' ? memo.schedule : 'unknown',
    force: input?.force === true,
    paused: d.state.paused,
    note: d.state.note ?? null,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: d.info.recentActions.map((a) => ({
      workflowId: a.action.workflow.workflowId,
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
    })),
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    runsTaken: d.info.numActionsTaken,
    skippedForOverlap: d.info.numActionsSkippedOverlap,
  };
}
