// Stream helpers the tests share with the product: creating a stream and reading it back.
export { ensureStream as createStream } from '../../src/embedded/ensureStream';
export { readAllRecords } from '../../src/kinesis/streamReader';
export type { StoredRecord } from '../../src/kinesis/streamReader';
