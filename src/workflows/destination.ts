import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ZodType } from 'zod';
import type { Activities } from '../activities/types';
import { activationSchema } from '../domain/activation';
import type { Activation } from '../domain/activation';
import { destinationSettingsSchema } from '../domain/destination';
import type { DestinationSettings } from '../domain/destination';
import { formatZodError } from '../domain/validationError';
import { DESTINATION_STATE } from '../searchAttributes';
import {
  activateUpdate,
  configureUpdate,
  pauseSignal,
  profilesChangedSignal,
  resumeSignal,
  statusQuery,
} from './messages';
import type { CarriedState, DestinationState, DestinationStatus, DestinationWorkflowInput } from './messages';

/** Profiles read, diffed and sent per export activity. */
export const EXPORT_PAGE_SIZE = 10_000;

const { saveDestination } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '10 seconds' },
});
const { exportPage } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Validates a message with zod; a failure becomes one line naming the field, and nothing changes. */
function parseOrReject<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw ApplicationFailure.create({ type: 'ValidationError', nonRetryable: true, message: `invalid ${what}: ${formatZodError(parsed.error)}` });
  }
  return parsed.data;
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * The destination actor: one long-lived workflow per destination. It holds the non-secret
 * settings and the activation, learns of profile changes by signal, and exports them page by
 * page through activities, checkpointing the change sequence it has decided up to.
 */
export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<void> {
  const { destinationId } = input;
  let settings: DestinationSettings = input.settings;
  const carried: CarriedState = input.carried ?? {
    activation: null,
    paused: false,
    checkpoint: 0,
    knownSeq: 0,
    rescan: false,
    pending: 0,
    counters: { received: 0, exported: 0, skipped: 0, deadLettered: 0 },
    lastError: null,
  };
  const s = { ...carried, counters: { ...carried.counters } };
  let exporting = false;
  // Bumped when the activation changes, so a page started under the old mapping moves no checkpoint.
  let generation = 0;

  const state = (): DestinationState => (s.lastError ? 'error' : s.paused ? 'paused' : exporting ? 'exporting' : 'idle');
  let shownState: DestinationState | undefined;
  const showState = (): void => {
    const now = state();
    if (now !== shownState) {
      shownState = now;
      upsertSearchAttributes([{ key: DESTINATION_STATE, value: now }]);
    }
  };
  const status = (): DestinationStatus => ({
    destinationId,
    name: settings.name,
    stream: settings.stream,
    state: state(),
    pending: s.pending,
    counters: { ...s.counters },
    lastError: s.lastError,
    checkpoint: s.checkpoint,
    activation: s.activation,
  });

  setHandler(statusQuery, status);
  setHandler(profilesChangedSignal, ({ seq, count }) => {
    if (seq > s.knownSeq) s.knownSeq = seq;
    s.pending += count;
  });
  setHandler(pauseSignal, () => {
    s.paused = true;
    showState();
  });
  setHandler(resumeSignal, () => {
    s.paused = false;
    s.lastError = null;
    showState();
  });
  setHandler(
    configureUpdate,
    async (next) => {
      const parsed = parseOrReject(destinationSettingsSchema, next, 'destination settings');
      await saveDestination({ destinationId, settings: parsed, activation: s.activation });
      settings = parsed;
      s.lastError = null; // a fixed configuration resumes a destination stopped by an error
      showState();
      return status();
    },
    { validator: (next) => void parseOrReject(destinationSettingsSchema, next, 'destination settings') },
  );
  setHandler(
    activateUpdate,
    async (next) => {
      const activation = parseOrReject(activationSchema, next, 'activation');
      await saveDestination({ destinationId, settings, activation });
      s.activation = activation;
      // Re-decide every stored profile under the new mapping: the ledger keeps unchanged
      // profiles from being sent again, and members of newly mapped segments are back-filled.
      s.checkpoint = 0;
      s.rescan = true;
      generation++;
      return status();
    },
    { validator: (next) => void parseOrReject(activationSchema, next, 'activation') },
  );

  const hasWork = (): boolean =>
    s.activation !== null && !s.paused && s.lastError === null && (s.rescan || s.checkpoint < s.knownSeq);

  showState();
  await saveDestination({ destinationId, settings, activation: s.activation });
  for (;;) {
    await condition(() => hasWork() || workflowInfo().continueAsNewSuggested);
    if (!hasWork()) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof destinationWorkflow>({ destinationId, settings, carried: s });
    }
    const activation = s.activation as Activation;
    const startedGeneration = generation;
    exporting = true;
    showState();
    try {
      const page = await exportPage.executeWithOptions(
        { summary: `export changes after seq ${s.checkpoint} to ${settings.stream}` },
        [{ destinationId, settings, activation, afterSeq: s.checkpoint, pageSize: EXPORT_PAGE_SIZE }],
      );
      s.counters.received += page.decided;
      s.counters.exported += page.exported;
      s.counters.skipped += page.skipped;
      s.counters.deadLettered += page.deadLettered;
      if (generation === startedGeneration) {
        s.checkpoint = Math.max(s.checkpoint, page.lastSeq);
        s.knownSeq = Math.max(s.knownSeq, page.lastSeq);
        s.rescan = page.more;
        s.pending = page.remaining;
      }
    } catch (err) {
      s.lastError = failureMessage(err);
    } finally {
      exporting = false;
      showState();
    }
  }
}
