export { destinationWorkflow } from './destination';
