import assert from 'node:assert/strict';
import { maxCachedWorkflowsFromEnv } from '../../src/config';

describe('maxCachedWorkflowsFromEnv', () => {
  it('reads the cache size, and leaves it to the SDK when unset', () => {
    assert.equal(maxCachedWorkflowsFromEnv({ KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS: '20' }), 20);
    assert.equal(maxCachedWorkflowsFromEnv({ KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS: '' }), undefined);
    assert.equal(maxCachedWorkflowsFromEnv({}), undefined);
  });

  it('rejects a value that is not a whole number of at least 2, naming the variable', () => {
    for (const bad of ['0', '1', '-3', '2.5', 'many']) {
      assert.throws(
        () => maxCachedWorkflowsFromEnv({ KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS: bad }),
        new RegExp(`^Error: KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS must be a whole number of at least 2, got ${bad}$`),
      );
    }
  });
});
