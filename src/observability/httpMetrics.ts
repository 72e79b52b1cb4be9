import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The ingest service's metrics, registered in the process's registry (the worker's, when `dev`
 * runs both), so they are scraped from the same /metrics endpoint.
 */
export class HttpIngestMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  readonly lines: Counter<'operation' | 'outcome'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'kinesis_activation_http_requests_total',
      help: 'Ingest service requests answered, by route and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'kinesis_activation_http_request_duration_seconds',
      help: 'Ingest service time from request to response',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.lines = new Counter({
      name: 'kinesis_activation_http_lines_total',
      help: 'Lines the ingest service took, by operation (replace, merge) and outcome (accepted, rejected)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
  }
}
