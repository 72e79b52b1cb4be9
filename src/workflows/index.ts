export { destinationWorkflow } from './destination';
export { scheduledReexportWorkflow } from './scheduledReexport';
