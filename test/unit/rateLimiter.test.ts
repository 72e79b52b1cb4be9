import assert from 'node:assert/strict';
import { AimdRateLimiter } from '../../src/kinesis/rateLimiter';
import type { AimdRateLimiterOptions } from '../../src/kinesis/rateLimiter';
import type { Permit } from '../../src/kinesis/sendLimiter';
import { FakeClock, settle } from '../support/fakeClock';

/** Acquires and records whether (and in which order) the permit was granted. */
function track(
  limiter: AimdRateLimiter,
  count: number,
  log: string[],
  name: string,
  signal?: AbortSignal,
): { permit?: Permit; error?: unknown } {
  const state: { permit?: Permit; error?: unknown } = {};
  limiter.acquire(count, signal).then(
    (permit) => {
      state.permit = permit;
      log.push(name);
    },
    (error: unknown) => {
      state.error = error;
    },
  );
  return state;
}

describe('AimdRateLimiter', () => {
  let clock: FakeClock;
  const limiter = (options: AimdRateLimiterOptions = {}): AimdRateLimiter =>
    new AimdRateLimiter({ initialRate: 100, minRate: 10, maxRate: 1000, increasePerCall: 10, ...options, clock });

  beforeEach(() => {
    clock = new FakeClock();
  });

  it('grants a full bucket at once, then waits for the refill', async () => {
    const l = limiter();
    const log: string[] = [];
    track(l, 60, log, 'first');
    track(l, 60, log, 'second');
    await settle();
    assert.deepEqual(log, ['first']);
    // 40 tokens left; 20 more take 200 ms at 100 records/s.
    await clock.advance(199);
    assert.deepEqual(log, ['first']);
    await clock.advance(1);
    assert.deepEqual(log, ['first', 'second']);
    assert.equal(clock.pendingTimers, 0, 'no timer runs while nobody waits');
  });

  it('serves waiters in order: a small request does not overtake a large one', async () => {
    const l = limiter();
    const log: string[] = [];
    track(l, 100, log, 'drain');
    track(l, 50, log, 'large');
    track(l, 1, log, 'small');
    await settle();
    assert.deepEqual(log, ['drain']);
    await clock.advance(500);
    assert.deepEqual(log, ['drain', 'large']);
    await clock.advance(10);
    assert.deepEqual(log, ['drain', 'large', 'small']);
  });

  it('grants a request larger than the bucket once the bucket is full, leaving a debt', async () => {
    const l = limiter();
    const log: string[] = [];
    track(l, 300, log, 'huge');
    track(l, 1, log, 'after');
    await settle();
    assert.deepEqual(log, ['huge']);
    // The bucket is at -200: one token is 2010 ms away at 100 records/s.
    await clock.advance(2009);
    assert.deepEqual(log, ['huge']);
    await clock.advance(1);
    assert.deepEqual(log, ['huge', 'after']);
    assert.equal(l.maxPermits, 100);
  });

  it('adds after a successful call and halves after a throttled one, within bounds', async () => {
    const l = limiter();
    const permits = await Promise.all([1, 2, 3].map(() => l.acquire(1)));
    permits[0]?.release('success');
    assert.equal(l.rate, 110);
    permits[1]?.release('failed');
    assert.equal(l.rate, 110, 'a failure that was not throttling says nothing about capacity');
    permits[2]?.release('throttled');
    assert.equal(l.rate, 55);

    const callOnce = async (outcome: 'success' | 'throttled'): Promise<void> => {
      const permit = l.acquire(1);
      await clock.advance(1000);
      (await permit).release(outcome);
    };
    for (let i = 0; i < 100; i++) await callOnce('success');
    assert.equal(l.rate, 1000, 'capped at maxRate');
    for (let i = 0; i < 10; i++) await callOnce('throttled');
    assert.equal(l.rate, 10, 'floored at minRate');
  });

  it('halves once for calls that were sent together and came back throttled together', async () => {
    const l = limiter();
    const sentTogether = await Promise.all([1, 2, 3].map(() => l.acquire(1)));
    for (const permit of sentTogether) permit.release('throttled');
    assert.equal(l.rate, 50);
    (await l.acquire(1)).release('throttled');
    assert.equal(l.rate, 25, 'a call sent after the decrease may decrease again');
  });

  it('on the first throttle drops to what the stream accepted in the last second, later halves but not below it', async () => {
    const l = limiter({ initialRate: 1000, maxRate: 1000 });
    const [a, b] = await Promise.all([l.acquire(100), l.acquire(100)]);
    a?.release('success', 200);
    await clock.advance(400);
    b?.release('throttled', 100);
    assert.equal(l.rate, 300, 'the first throttle: straight to the 300 records accepted, not half of 1000');

    const [c, d] = await Promise.all([l.acquire(1), l.acquire(1)]);
    await clock.advance(200);
    c?.release('success', 250);
    assert.equal(l.rate, 310);
    d?.release('throttled', 0);
    assert.equal(l.rate, 310, '550 accepted in the last second: no decrease below that');

    await clock.advance(1000);
    (await l.acquire(1)).release('throttled', 0);
    assert.equal(l.rate, 155, 'nothing accepted in the last second: halved');
  });

  it('counts only the first release of a permit', async () => {
    const l = limiter();
    const permit = await l.acquire(1);
    permit.release('success');
    permit.release('success');
    permit.release('throttled');
    assert.equal(l.rate, 110);
  });

  it('shrinks the bucket with the rate, so a throttled sender cannot burst at the old rate', async () => {
    const l = limiter({ initialRate: 1000, maxRate: 1000 });
    const log: string[] = [];
    (await l.acquire(1)).release('throttled');
    assert.equal(l.maxPermits, 500);
    track(l, 500, log, 'burst');
    track(l, 500, log, 'next');
    await settle();
    assert.deepEqual(log, ['burst']);
    await clock.advance(999);
    assert.deepEqual(log, ['burst']);
    await clock.advance(1);
    assert.deepEqual(log, ['burst', 'next']);
  });

  it('drops an aborted waiter and serves the next one', async () => {
    const l = limiter();
    const log: string[] = [];
    const controller = new AbortController();
    track(l, 100, log, 'drain');
    const aborted = track(l, 100, log, 'aborted', controller.signal);
    track(l, 10, log, 'next');
    await settle();
    controller.abort(new Error('stopped'));
    await settle();
    assert.match(String(aborted.error), /stopped/);
    await clock.advance(100);
    assert.deepEqual(log, ['drain', 'next']);
    await assert.rejects(l.acquire(1, controller.signal), /stopped/);
  });

  it('rejects inconsistent settings', () => {
    assert.throws(() => limiter({ minRate: 200 }), /minRate <= initialRate/);
    assert.throws(() => limiter({ decreaseFactor: 1 }), /decreaseFactor/);
    assert.throws(() => limiter({ burstSeconds: 0 }), /burstSeconds/);
  });
});
