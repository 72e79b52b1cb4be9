import { Runtime } from '@temporalio/worker';
import type { Logger as PinoLogger } from 'pino';
import { PinoTemporalLogger } from './logger';

/**
 * Installs the process-wide Temporal runtime once: SDK, workflow and activity logs go to our
 * JSON logger, and the SDK's own worker metrics are exported for the metrics server to merge.
 */
export function installRuntime(logger: PinoLogger, sdkMetricsPort?: number): { sdkMetricsUrl?: string } {
  Runtime.install({
    logger: new PinoTemporalLogger(logger),
    ...(sdkMetricsPort
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } } }
      : {}),
  });
  return sdkMetricsPort ? { sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics` } : {};
}
