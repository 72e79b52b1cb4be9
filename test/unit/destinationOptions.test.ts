import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseMaxRecordBytesOption, parsePartitionKeyOption } from '../../src/cli/destinationOptions';

const rejects = (fn: () => unknown, message: RegExp): void => {
  assert.throws(
    fn,
    (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message) && !err.message.includes('\n'),
  );
};

describe('--partition-key', () => {
  it('takes hash, identity:NAMESPACE and attribute:XDM.PATH', () => {
    assert.deepEqual(parsePartitionKeyOption('hash'), { type: 'profileIdHash' });
    assert.deepEqual(parsePartitionKeyOption('identity:email_lc_sha256'), {
      type: 'identityNamespace',
      namespace: 'email_lc_sha256',
    });
    assert.deepEqual(parsePartitionKeyOption('identity:crm:id'), { type: 'identityNamespace', namespace: 'crm:id' });
    assert.deepEqual(parsePartitionKeyOption('attribute:person.email'), { type: 'attribute', path: 'person.email' });
  });

  it('rejects anything else with a one-line reason', () => {
    for (const spec of ['', 'foo', 'hash:x', 'identity', 'attribute', 'ecid:123'])
      rejects(() => parsePartitionKeyOption(spec), /^must be hash, identity:NAMESPACE or attribute:XDM\.PATH$/);
    rejects(() => parsePartitionKeyOption('identity:'), /^namespace: must not be empty$/);
    rejects(() => parsePartitionKeyOption('attribute:person..email'), /^path: must be a dotted XDM path/);
    rejects(
      () => parsePartitionKeyOption('attribute:identityMap.ecid'),
      /^path: must not start with segmentMembership, identityMap or profileId$/,
    );
  });
});

describe('--max-record-bytes', () => {
  it('takes bytes, KiB or MiB', () => {
    assert.equal(parseMaxRecordBytesOption('2048'), 2048);
    assert.equal(parseMaxRecordBytesOption('4KiB'), 4096);
    assert.equal(parseMaxRecordBytesOption('1MiB'), 1024 * 1024);
    assert.equal(parseMaxRecordBytesOption('10MiB'), 10 * 1024 * 1024);
  });

  it('rejects what is not a size, and sizes outside what a stream takes', () => {
    for (const text of ['', 'abc', '12abc', '1.5MiB', '-5', '1 GB', '1e6'])
      rejects(() => parseMaxRecordBytesOption(text), /^must be a whole number of bytes/);
    rejects(() => parseMaxRecordBytesOption('100'), /^must be >= 1024$/);
    rejects(() => parseMaxRecordBytesOption('11MiB'), /^must be <= 10485760$/);
  });
});
