import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The worker's own metrics, per destination. Counters move with each acknowledged chunk and
 * each PutRecords call, so a scrape during an export shows progress.
 */
export class ActivationMetrics {
  readonly registry = new Registry();
  readonly recordsSent = new Counter({
    name: 'kinesis_activation_records_sent_total',
    help: 'Records acknowledged by Kinesis',
    labelNames: ['destination'],
    registers: [this.registry],
  });
  readonly recordsFailed = new Counter({
    name: 'kinesis_activation_records_failed_total',
    help: 'Record entries that failed and were resent, by the ErrorCode Kinesis gave',
    labelNames: ['destination', 'errorCode'],
    registers: [this.registry],
  });
  readonly recordsThrottled = new Counter({
    name: 'kinesis_activation_records_throttled_total',
    help: 'Record entries throttled (ProvisionedThroughputExceeded)',
    labelNames: ['destination'],
    registers: [this.registry],
  });
  readonly recordsDeadLettered = new Counter({
    name: 'kinesis_activation_records_dead_lettered_total',
    help: 'Records that can never be sent, by reason (record-too-large, partition-key-invalid)',
    labelNames: ['destination', 'reason'],
    registers: [this.registry],
  });
  readonly profilesExcluded = new Counter({
    name: 'kinesis_activation_profiles_excluded_total',
    help: "Members the destination's consent rule held back, by reason (consent-missing, consent-refused)",
    labelNames: ['destination', 'reason'],
    registers: [this.registry],
  });
  readonly profilesDecided = new Counter({
    name: 'kinesis_activation_profiles_decided_total',
    help: 'Profiles diffed, by outcome (exported, skipped, excluded, deadLettered)',
    labelNames: ['destination', 'outcome'],
    registers: [this.registry],
  });
  /** Candidate rows the store read for a destination: zero for a change that does not concern it. */
  readonly profilesRead = new Counter({
    name: 'kinesis_activation_profiles_read_total',
    help: 'Profiles the store read for a destination to decide (changes and re-export members)',
    labelNames: ['destination'],
    registers: [this.registry],
  });
  readonly putCalls = new Counter({
    name: 'kinesis_activation_put_calls_total',
    help: 'PutRecords calls, by outcome',
    labelNames: ['destination', 'outcome'],
    registers: [this.registry],
  });
  readonly putLatency = new Histogram({
    name: 'kinesis_activation_put_latency_seconds',
    help: 'PutRecords call latency',
    labelNames: ['destination'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly rateLimit = new Gauge({
    name: 'kinesis_activation_rate_limit_records_per_second',
    help: 'Send rate in force (AIMD)',
    labelNames: ['destination'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kinesis_activation_process_' });
  }
}
