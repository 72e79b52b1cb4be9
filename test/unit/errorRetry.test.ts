import assert from 'node:assert/strict';
import { DEFAULT_ERROR_RETRY, errorRetryDelay } from '../../src/workflows/errorRetry';

describe('errorRetryDelay', () => {
  it('waits the initial delay after the first failure, doubling after each further one up to the cap', () => {
    const retry = { initialMs: 1000, maxMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 100].map((n) => errorRetryDelay(n, retry)),
      [1000, 2000, 4000, 5000, 5000, 5000],
    );
  });

  it('by default retries after 10 seconds, and at least every 10 minutes', () => {
    assert.equal(errorRetryDelay(1, DEFAULT_ERROR_RETRY), 10_000);
    assert.equal(errorRetryDelay(7, DEFAULT_ERROR_RETRY), 600_000);
    assert.equal(errorRetryDelay(10_000, DEFAULT_ERROR_RETRY), 600_000);
  });
});
