/** The package's typed API: what the CLI does, over the Temporal client. */
export { ActivationClient, InvalidInputError } from './client/activationClient';
export type { IngestResult } from './client/activationClient';
export { ReexportSchedules, reexportScheduleId } from './client/reexportSchedules';
export type { ReexportScheduleInfo } from './client/reexportSchedules';
export type { ReexportSchedule } from './domain/reexport';
export { temporalConfigFromEnv, databaseUrlFromEnv } from './config';
export type { TemporalConfig } from './config';
export { openStore } from './store/openStore';
export type { Store } from './store/store';
export { destinationWorkflow, scheduledReexportWorkflow } from './workflows';
export * from './workflows/messages';
export type { Activation, MappedSegment } from './domain/activation';
export type { DestinationSettings, DestinationSettingsInput, Credentials } from './domain/destination';
export { destinationWorkflowId } from './domain/destinationWorkflowId';
export type { ProfileSnapshot } from './domain/profile';
export type { ExportRecord } from './domain/projection';
export { createActivationWorker, connectWorker } from './worker';
