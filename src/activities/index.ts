import type { Store } from '../store/store';
import { checkPermissions } from './checkPermissions';
import { exportPage } from './exportPage';
import { KinesisWriters } from './kinesisWriters';
import { reexportPage } from './reexportPage';
import type { Activities } from './types';

export interface ActivityDeps {
  store: Store;
  writers?: KinesisWriters;
}

/** Activities bound to the worker's store and Kinesis writers (dependency injection, as in the samples). */
export function createActivities({ store, writers = new KinesisWriters() }: ActivityDeps): Activities {
  return {
    async saveDestination({ destinationId, settings, activation }) {
      await store.saveDestination({ id: destinationId, settings, activation });
    },
    checkPermissions: (input) => checkPermissions(writers, input),
    exportPage: (input) => exportPage(store, writers, input),
    reexportPage: (input) => reexportPage(store, writers, input),
    countSegmentMembers: ({ segmentIds }) => store.countSegmentMembers(segmentIds),
    storeHead: () => store.maxSeq(),
  };
}

export type { Activities } from './types';
