import { ApplicationFailure } from '@temporalio/common';
import type {
  Activities,
  ExportPageInput,
  ExportPageResult,
  ReexportPageInput,
  ReexportPageResult,
  SaveDestinationInput,
} from '../../src/activities/types';
import { parseMessage } from '../../src/domain/messageParsing';
import { PERMISSION_CHECK_FAILED } from '../../src/domain/permissionCheck';
import type { PermissionCheckResult } from '../../src/domain/permissionCheck';

/** A promise the test resolves by hand: an activity waits on it, so the test decides when it ends. */
export class Gate {
  private release!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  /** Resolves once the activity is waiting at the gate. */
  reached!: Promise<void>;
  private arrive!: () => void;

  constructor() {
    this.reached = new Promise<void>((resolve) => (this.arrive = resolve));
  }

  async pass(): Promise<void> {
    this.arrive();
    await this.opened;
  }

  open(): void {
    this.release();
  }
}

export type ActivityName = keyof Activities;

function checkResult(ok: boolean): PermissionCheckResult {
  return {
    checkedAt: new Date().toISOString(),
    region: 'us-east-1',
    stream: 'fake',
    streamVerdict: 'exists',
    streamDetail: 'listed',
    permissions: [
      { permission: 'ListStreams', verdict: 'granted', detail: 'listed' },
      { permission: 'PutRecord', verdict: 'granted', detail: 'authorized' },
      { permission: 'PutRecords', verdict: ok ? 'granted' : 'denied', detail: ok ? 'authorized' : 'AccessDenied' },
    ],
    ok,
  };
}

/**
 * The actor's activities without Kinesis or a store: a change log of `head` sequences decided
 * `changesPerPage` at a time, `members` segment members paged by id, a permission check that
 * passes unless `denied`, and gates that hold an activity until the test opens them.
 */
export class FakeActivities {
  head = 0;
  changesPerPage = 10;
  members = 0;
  denied = false;
  /** What the check reads as the stream's largest record (null: the check reads none). */
  streamMaxRecordBytes: number | null = null;
  /** Export pages still to fail (terminally) before they succeed. */
  exportFailures = 0;
  /** Results name their cursor as versions before the rename recorded it (lastSeq, lastProfileId). */
  earlierNames = false;
  /** Every call, with when it started (epoch ms). */
  readonly calls: { name: ActivityName; input: unknown; at: number }[] = [];
  readonly saved: SaveDestinationInput[] = [];
  private readonly gates = new Map<ActivityName, Gate>();
  private readonly held: Gate[] = [];

  /** Holds the next call of `name` until the returned gate is opened. */
  hold(name: ActivityName): Gate {
    const gate = new Gate();
    this.gates.set(name, gate);
    this.held.push(gate);
    return gate;
  }

  /** Lets every held activity finish (a failed test must not leave the worker waiting on one). */
  openAll(): void {
    for (const gate of this.held) gate.open();
  }

  names(): ActivityName[] {
    return this.calls.map((c) => c.name);
  }

  inputs<T>(name: ActivityName): T[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input as T);
  }

  activities(): Activities {
    return {
      saveDestination: async (input) => {
        await this.enter('saveDestination', input);
        this.saved.push(input);
      },
      checkPermissions: async (input) => {
        await this.enter('checkPermissions', input);
        const result = checkResult(!this.denied);
        if (this.streamMaxRecordBytes !== null) {
          Object.assign(result, {
            stream: input.settings.stream,
            region: input.settings.region,
            streamLimit: { verdict: 'granted', maxRecordBytes: this.streamMaxRecordBytes, detail: 'read' },
          });
        }
        if (result.ok) return result;
        throw ApplicationFailure.create({
          type: PERMISSION_CHECK_FAILED,
          nonRetryable: true,
          message: 'kinesis:PutRecords denied',
          details: [result],
        });
      },
      exportPage: async (input) => {
        await this.enter('exportPage', input);
        const { cursor, ...page } = this.changePage(input);
        return this.earlierNames ? ({ ...page, lastSeq: cursor } as unknown as ExportPageResult) : { ...page, cursor };
      },
      reexportPage: async (input) => {
        await this.enter('reexportPage', input);
        const { cursor, ...page } = this.memberPage(input);
        return this.earlierNames
          ? ({ ...page, lastProfileId: cursor } as unknown as ReexportPageResult)
          : { ...page, cursor };
      },
      replayPage: async (input) => {
        await this.enter('replayPage', input);
        const replayed = input.profileIds?.length ?? 0;
        return {
          decided: replayed,
          exported: replayed,
          skipped: 0,
          deadLettered: 0,
          putCalls: replayed > 0 ? 1 : 0,
          throttled: 0,
          cursor: input.profileIds?.at(-1) ?? null,
          more: false,
        };
      },
      countSegmentMembers: async (input) => {
        await this.enter('countSegmentMembers', input);
        return this.members;
      },
      storeHead: async () => {
        await this.enter('storeHead', undefined);
        return this.head;
      },
      // Pure parsing, as the worker's: not a step the tests script.
      parseMessage: ({ kind, value }) => Promise.resolve(parseMessage(kind, value)),
    };
  }

  private async enter(name: ActivityName, input: unknown): Promise<void> {
    this.calls.push({ name, input, at: Date.now() });
    const gate = this.gates.get(name);
    if (gate) {
      this.gates.delete(name);
      await gate.pass();
    }
  }

  private changePage(input: ExportPageInput): ExportPageResult {
    if (this.exportFailures > 0) {
      this.exportFailures--;
      throw ApplicationFailure.create({ type: 'KinesisTerminal', nonRetryable: true, message: 'AccessDenied' });
    }
    const end = Math.min(this.head, input.cursor + this.changesPerPage);
    const decided = Math.max(0, end - input.cursor);
    return {
      decided,
      exported: decided,
      skipped: 0,
      deadLettered: 0,
      putCalls: decided > 0 ? 1 : 0,
      throttled: 0,
      cursor: Math.max(end, input.cursor),
      more: end < this.head,
      remaining: Math.max(0, this.head - end),
    };
  }

  private memberPage(input: ReexportPageInput): ReexportPageResult {
    const from = input.cursor === null ? 0 : Number(input.cursor.slice(1));
    const to = Math.min(this.members, from + input.pageSize);
    const read = to - from;
    return {
      decided: read,
      exported: read,
      skipped: 0,
      deadLettered: 0,
      putCalls: read > 0 ? 1 : 0,
      throttled: 0,
      cursor: read > 0 ? memberId(to) : input.cursor,
      read,
      more: to < this.members,
    };
  }
}

/** Member ids that sort like their numbers. */
export function memberId(n: number): string {
  return `m${String(n).padStart(6, '0')}`;
}
