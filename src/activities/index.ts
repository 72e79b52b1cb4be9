import { parseMessage } from '../domain/messageParsing';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { checkPermissions } from './checkPermissions';
import { exportPage } from './exportPage';
import { KinesisConnections } from '../kinesis/connections';
import { reexportPage } from './reexportPage';
import { replayPage } from './replayPage';
import { reportingStoreDown } from './storeDown';
import type { Activities } from './types';

export interface ActivityDeps {
  store: Store;
  metrics?: ActivationMetrics;
  writers?: KinesisConnections;
}

/** Activities bound to the worker's store and Kinesis writers (dependency injection, as in the samples). */
export function createActivities({
  store,
  metrics,
  writers = new KinesisConnections({}, metrics),
}: ActivityDeps): Activities {
  return {
    // saveDestination and storeHead stay retryable while the store is down: a run's start and
    // the configure and activate handlers wait for the store instead of failing.
    async saveDestination({ destinationId, settings, activation }) {
      await store.saveDestination({ id: destinationId, settings, activation });
    },
    checkPermissions: (input) => checkPermissions(writers, input),
    // Steps: a store down for longer than it waits stops the destination in error (see storeDown).
    exportPage: reportingStoreDown((input) => exportPage(store, writers, input, metrics)),
    reexportPage: reportingStoreDown((input) => reexportPage(store, writers, input, metrics)),
    replayPage: reportingStoreDown((input) => replayPage(store, writers, input, metrics)),
    countSegmentMembers: reportingStoreDown(({ segmentIds }) => store.countSegmentMembers(segmentIds)),
    storeHead: () => store.head(),
    parseMessage: ({ kind, value }) => Promise.resolve(parseMessage(kind, value)),
  };
}

export type { Activities } from './types';
