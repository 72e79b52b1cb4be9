import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { Counter, LabelValues } from 'prom-client';
import { waitFor } from '../../src/embedded/waitFor';
import { ActivationMetrics } from '../../src/observability/metrics';
import { startMetricsServer } from '../../src/observability/metricsServer';
import type { MetricsServer } from '../../src/observability/metricsServer';
import { readAllRecords } from '../support/kinesisStream';
import { useKinesisFixture } from '../support/kinesisFixture';
import { withWorker } from '../support/temporal';

const STREAM = 'metrics-stream';
const PROFILES = 2000;

/** Sums the samples of one metric for one destination in Prometheus text. */
function sample(text: string, metric: string, destination: string, extra = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}{`) && line.includes(`destination="${destination}"`) && line.includes(extra))
      total += Number(line.split(' ').pop());
  }
  return total;
}

function profiles(count: number): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      profileId: `m-${i}`,
      identityMap: { ecid: [{ id: String(i) }] },
      person: { email: `m${i}@example.com` },
      segmentMembership: { ups: { 'seg-m': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
    }),
  ).join('\n');
}

/** The amounts `counter` is increased by for `destination`, as they happen (the counter works as before). */
function countedSteps(counter: Counter, destination: string): number[] {
  const steps: number[] = [];
  const inc = counter.inc.bind(counter);
  counter.inc = ((labels?: LabelValues<string> | number, value?: number) => {
    if (typeof labels === 'object' && labels.destination === destination) steps.push(value ?? 1);
    return typeof labels === 'object' ? inc(labels, value) : inc(labels);
  }) as Counter['inc'];
  return steps;
}

describe('Prometheus metrics of the worker', () => {
  let metrics: ActivationMetrics;
  let server: MetricsServer;
  // Failed (throttled) entries make the failure counters move too.
  const fx = useKinesisFixture('metrics', { proxy: { recordFailureRate: 0.2 }, streams: { [STREAM]: 2 } });

  before(async () => {
    metrics = new ActivationMetrics();
    server = await startMetricsServer(metrics, { port: 0 });
  });

  after(async () => {
    await server.stop();
  });

  it('moves its counters during an export, consistently with what reached the stream', async () => {
    process.env.METRICS_TEST_SECRET = 'not-a-real-secret';
    await withWorker(
      fx.store,
      async ({ client }) => {
        const { id } = await client.createDestination({
          name: 'metrics',
          region: 'us-east-1',
          stream: STREAM,
          endpoint: fx.proxy.endpoint,
          credentials: {
            type: 'accessKey',
            accessKeyId: 'AKIAMETRICSEXAMPLE1',
            secretAccessKeyEnv: 'METRICS_TEST_SECRET',
          },
        });
        await client.activate(id, { segments: [{ id: 'seg-m' }], attributes: ['person.email'] });
        const steps = countedSteps(metrics.recordsSent, id);
        await client.ingest(Readable.from([profiles(PROFILES)]));

        const scrapes: number[] = [];
        let text = '';
        await waitFor(
          async () => {
            text = await fetch(server.url).then((r) => r.text());
            scrapes.push(sample(text, 'kinesis_activation_records_sent_total', id));
            return scrapes[scrapes.length - 1] === PROFILES;
          },
          { timeoutMs: 120_000, intervalMs: 20, what: 'every record to be counted as sent' },
        );
        for (let i = 1; i < scrapes.length; i++) assert.ok(scrapes[i]! >= scrapes[i - 1]!, 'a counter never goes down');
        // It moves call by call (a PutRecords call carries at most 500 records), not to its total at the end.
        assert.ok(steps.length >= PROFILES / 500, `${steps.length} steps: ${steps.join(', ')}`);
        assert.ok(
          steps.every((n) => n <= 500),
          `steps of at most one call: ${steps.join(', ')}`,
        );

        const records = await readAllRecords(fx.kinesis, STREAM);
        assert.equal(new Set(records.map((r) => r.partitionKey)).size, PROFILES);
        assert.equal(
          sample(text, 'kinesis_activation_records_sent_total', id),
          records.length,
          'sent = records in the stream',
        );
        const failed = sample(text, 'kinesis_activation_records_failed_total', id);
        assert.ok(failed > 0, 'injected failures are counted');
        assert.equal(
          sample(text, 'kinesis_activation_records_throttled_total', id),
          failed,
          'the proxy fails entries as throttled',
        );
        const calls = sample(text, 'kinesis_activation_put_calls_total', id);
        assert.ok(calls >= Math.ceil(PROFILES / 500), `at least one call per 500 records (${calls})`);
        assert.equal(
          sample(text, 'kinesis_activation_put_latency_seconds_count', id),
          calls,
          'one latency sample per call',
        );
        assert.ok(sample(text, 'kinesis_activation_rate_limit_records_per_second', id) > 0);
      },
      { metrics },
    );
  });
});
