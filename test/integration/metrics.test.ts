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

/** Every tenth profile has no consent value, every tenth but one refuses; the others consent. */
const consentOf = (i: number): string | undefined => (i % 10 === 0 ? undefined : i % 10 === 1 ? 'n' : 'y');
const EXCLUDED = { 'consent-missing': PROFILES / 10, 'consent-refused': PROFILES / 10 };
const EXPORTED = PROFILES - EXCLUDED['consent-missing'] - EXCLUDED['consent-refused'];

function profiles(count: number): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      profileId: `m-${i}`,
      identityMap: { ecid: [{ id: String(i) }] },
      person: { email: `m${i}@example.com` },
      ...(consentOf(i) === undefined ? {} : { consents: { share: { val: consentOf(i) } } }),
      segmentMembership: { ups: { 'seg-m': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
    }),
  ).join('\n');
}

/** The samples of one metric for one destination, by the value of `label`. */
function byLabel(text: string, metric: string, destination: string, label: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !line.includes(`destination="${destination}"`)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
    if (value !== undefined) values[value] = (values[value] ?? 0) + Number(line.split(' ').pop());
  }
  return values;
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
          consent: { path: 'consents.share.val', allowed: ['y'] },
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
            return scrapes[scrapes.length - 1] === EXPORTED;
          },
          { timeoutMs: 120_000, intervalMs: 20, what: 'every record to be counted as sent' },
        );
        for (let i = 1; i < scrapes.length; i++) assert.ok(scrapes[i]! >= scrapes[i - 1]!, 'a counter never goes down');
        // It moves call by call (a PutRecords call carries at most 500 records), not to its total at the end.
        assert.ok(steps.length >= EXPORTED / 500, `${steps.length} steps: ${steps.join(', ')}`);
        assert.ok(
          steps.every((n) => n <= 500),
          `steps of at most one call: ${steps.join(', ')}`,
        );

        const records = await readAllRecords(fx.kinesis, STREAM);
        assert.equal(new Set(records.map((r) => r.partitionKey)).size, EXPORTED);
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

        // Status and metrics by reason agree with each other and with the stream.
        const status = await waitFor(
          async () => {
            const s = await client.status(id);
            return s.counters.received === PROFILES && s.state === 'idle' ? s : undefined;
          },
          { timeoutMs: 60_000, what: 'every profile to be decided' },
        );
        text = await fetch(server.url).then((r) => r.text());
        const failedByCode = byLabel(text, 'kinesis_activation_records_failed_total', id, 'errorCode');
        assert.deepEqual(
          {
            exported: status.counters.exported,
            excluded: status.counters.excluded,
            excludedByReason: status.counters.excludedByReason,
            failedByErrorCode: status.counters.failedByErrorCode,
          },
          {
            exported: records.length,
            excluded: PROFILES - records.length,
            excludedByReason: EXCLUDED,
            failedByErrorCode: failedByCode,
          },
        );
        assert.deepEqual(Object.keys(failedByCode), ['ProvisionedThroughputExceededException']);
        assert.equal(status.counters.failed, failed);
        assert.deepEqual(byLabel(text, 'kinesis_activation_profiles_excluded_total', id, 'reason'), EXCLUDED);
        assert.deepEqual(byLabel(text, 'kinesis_activation_profiles_decided_total', id, 'outcome'), {
          exported: EXPORTED,
          excluded: PROFILES - EXPORTED,
        });
        // The page history (the last 10 pages) adds up to the counters, page by page.
        const pages = status.recentPages;
        assert.ok(pages.length > 0 && pages.every((p) => p.error === null), JSON.stringify(pages));
        for (const p of pages) assert.equal(p.received, p.exported + p.skipped + p.excluded + p.deadLettered);
        const exportedInPages = pages.reduce((n, p) => n + p.exported, 0);
        if (pages.length < 10) assert.equal(exportedInPages, EXPORTED);
        else assert.ok(exportedInPages <= EXPORTED);
      },
      { metrics },
    );
  });
});
