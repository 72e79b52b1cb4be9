import type { Store } from '../store/store';
import { checkPermissions } from './checkPermissions';
import { exportPage } from './exportPage';
import { KinesisWriters } from './kinesisWriters';
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
  };
}

export type { Activities } from './types';
