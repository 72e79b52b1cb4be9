import assert from 'node:assert/strict';
import { ConcurrencyLimiter } from '../../src/kinesis/concurrencyLimiter';
import type { ConcurrencyLimiterOptions } from '../../src/kinesis/concurrencyLimiter';
import type { Permit } from '../../src/kinesis/sendLimiter';
import { FakeClock, settle } from '../support/fakeClock';

/**
 * Runs `calls` calls of 500 records through the limiter from `senders` senders against a
 * simulated endpoint whose answer takes `latencyMs(n)` when n calls are in flight at the start.
 * Returns the limit after each answer.
 */
async function simulate(
  limiter: ConcurrencyLimiter,
  clock: FakeClock,
  latencyMs: (inFlight: number) => number,
  calls: number,
  senders = 8,
): Promise<number[]> {
  const limits: number[] = [];
  let started = 0;
  let inFlight = 0;
  const sender = async (): Promise<void> => {
    while (started < calls) {
      started += 1;
      const permit = await limiter.acquire(500);
      inFlight += 1;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, latencyMs(inFlight)));
      inFlight -= 1;
      permit.release('success', 500);
      limits.push(limiter.limit);
    }
  };
  const done = Promise.all(Array.from({ length: senders }, sender));
  let finished = false;
  void done.then(() => (finished = true));
  for (let i = 0; !finished; i++) {
    assert.ok(i < 1_000_000, 'the simulation stopped making progress');
    await clock.advance(10);
  }
  return limits;
}

const tail = (values: readonly number[], n: number): number[] => values.slice(-n);

describe('ConcurrencyLimiter', () => {
  let clock: FakeClock;
  const limiter = (options: ConcurrencyLimiterOptions = {}): ConcurrencyLimiter =>
    new ConcurrencyLimiter({ clock, ...options });
  beforeEach(() => {
    clock = new FakeClock();
  });

  it('grants at most `limit` calls at once, serves waiters in order, and drops an aborted waiter', async () => {
    const l = limiter({ initialLimit: 2 });
    const granted: string[] = [];
    const permits = new Map<string, Permit>();
    const ask = (name: string, signal?: AbortSignal): void => {
      l.acquire(500, signal).then(
        (permit) => {
          granted.push(name);
          permits.set(name, permit);
        },
        () => granted.push(`${name} aborted`),
      );
    };
    const controller = new AbortController();
    ask('a');
    ask('b');
    ask('c', controller.signal);
    ask('d');
    await settle();
    assert.deepEqual(granted, ['a', 'b']);
    controller.abort(new Error('stop'));
    await settle();
    permits.get('a')?.release('cancelled');
    await settle();
    assert.deepEqual(granted, ['a', 'b', 'c aborted', 'd']);
    // Only the first release of a permit counts.
    permits.get('a')?.release('cancelled');
    ask('e');
    await settle();
    assert.deepEqual(granted, ['a', 'b', 'c aborted', 'd']);
    await assert.rejects(l.acquire(1, AbortSignal.abort(new Error('already'))), /already/);
  });

  it('climbs to its maximum on an endpoint that serves calls side by side', async () => {
    const l = limiter({ maxLimit: 8 });
    const limits = await simulate(l, clock, () => 100, 300);
    // Now and then it measures one call fewer again, and comes back.
    const end = tail(limits, 200);
    assert.ok(
      end.every((limit) => limit >= 7) && end.filter((limit) => limit === 8).length >= 160,
      `limits at the end: ${end.join(',')}`,
    );
  });

  it('stays near one call on an endpoint that serves calls one after the other', async () => {
    const l = limiter({ initialLimit: 4 });
    // Serial: n calls in flight answer after n service times (a queue in front of one server).
    const limits = await simulate(l, clock, (n) => 100 * n, 300);
    assert.ok(
      tail(limits, 100).every((limit) => limit <= 2),
      `limits at the end: ${tail(limits, 100).join(',')}`,
    );
  });

  it('steps down to one call on an endpoint that slows down under load', async () => {
    const l = limiter({ initialLimit: 4 });
    // Like kinesis-mock: each call in flight slows every other one down, so fewer deliver more.
    const limits = await simulate(l, clock, (n) => 100 * n * (1 + 0.5 * (n - 1)), 300);
    const end = tail(limits, 100);
    assert.ok(end.filter((limit) => limit === 1).length >= 80, `limits at the end: ${end.join(',')}`);
  });

  it('settles where more calls stop paying: at the endpoint’s parallelism', async () => {
    const l = limiter();
    // Three calls side by side, then a queue.
    const limits = await simulate(l, clock, (n) => 100 * Math.max(1, n / 3), 400);
    const end = tail(limits, 100);
    assert.ok(
      end.every((limit) => limit >= 2 && limit <= 4),
      `limits at the end: ${end.join(',')}`,
    );
  });

  it('follows an endpoint that changes: figures go stale and are measured again', async () => {
    const l = limiter({ staleAfterSamples: 30 });
    let parallel = false;
    const latency = (n: number): number => (parallel ? 100 : 100 * n * (1 + 0.5 * (n - 1)));
    await simulate(l, clock, latency, 200);
    assert.ok(l.limit <= 2, `limit ${l.limit} on the slow endpoint`);
    parallel = true;
    const limits = await simulate(l, clock, latency, 400);
    assert.equal(tail(limits, 1)[0], 8);
  });

  it('halves on a call that failed as a whole; throttled and small calls are no sample', async () => {
    const l = limiter({ initialLimit: 8, maxLimit: 8, samplesPerStep: 1 });
    const permit = await l.acquire(500);
    clock.advance(100).catch(() => undefined);
    permit.release('failed');
    assert.equal(l.limit, 4);
    for (const [outcome, records] of [
      ['throttled', 500],
      ['success', 10],
      ['cancelled', 500],
    ] as const) {
      const p = await l.acquire(records);
      permit.release('failed'); // a second release of the first permit: ignored
      p.release(outcome, records);
      assert.equal(l.limit, 4, `${outcome} of ${records} records moved the limit`);
    }
    const last = await l.acquire(1);
    last.release('failed');
    assert.equal(l.limit, 2);
  });

  it('refuses settings that make no sense', () => {
    assert.throws(() => limiter({ minLimit: 0 }), /1 <= minLimit <= initialLimit <= maxLimit/);
    assert.throws(() => limiter({ initialLimit: 9, maxLimit: 8 }), /got 1, 9, 8/);
    assert.throws(() => limiter({ samplesPerStep: 0 }), /samplesPerStep/);
  });
});
