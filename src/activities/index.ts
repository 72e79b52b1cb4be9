import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { checkPermissions } from './checkPermissions';
import { exportPage } from './exportPage';
import { KinesisConnections } from '../kinesis/connections';
import { reexportPage } from './reexportPage';
import { replayPage } from './replayPage';
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
    async saveDestination({ destinationId, settings, activation }) {
      await store.saveDestination({ id: destinationId, settings, activation });
    },
    checkPermissions: (input) => checkPermissions(writers, input),
    exportPage: (input) => exportPage(store, writers, input, metrics),
    reexportPage: (input) => reexportPage(store, writers, input, metrics),
    replayPage: (input) => replayPage(store, writers, input, metrics),
    countSegmentMembers: ({ segmentIds }) => store.countSegmentMembers(segmentIds),
    storeHead: () => store.head(),
  };
}

export type { Activities } from './types';
