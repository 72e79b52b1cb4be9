import type { KinesisClient, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { SendLimiter } from '../kinesis/sendLimiter';
import type { ActivationMetrics } from './metrics';

/**
 * Observes every PutRecords call of a destination's client on the wire: latency, outcome,
 * acknowledged / failed / throttled entries and the rate limit in force. Kept outside the
 * writer so the writer stays about sending, and the figures are what Kinesis answered.
 */
export function observePutRecords(
  client: KinesisClient,
  destination: string,
  metrics: ActivationMetrics,
  limiter: SendLimiter,
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const stopTimer = metrics.putLatency.startTimer({ destination });
      try {
        const result = await next(args);
        const entries = (result.output as PutRecordsCommandOutput).Records ?? [];
        let failed = 0;
        let throttled = 0;
        for (const entry of entries) {
          if (!entry.ErrorCode) continue;
          failed++;
          metrics.recordsFailed.inc({ destination, errorCode: entry.ErrorCode });
          if (entry.ErrorCode === 'ProvisionedThroughputExceededException') throttled++;
        }
        metrics.recordsSent.inc({ destination }, entries.length - failed);
        if (throttled > 0) metrics.recordsThrottled.inc({ destination }, throttled);
        metrics.putCalls.inc({ destination, outcome: failed > 0 ? 'partial' : 'ok' });
        return result;
      } catch (err) {
        metrics.putCalls.inc({ destination, outcome: 'error' });
        throw err;
      } finally {
        stopTimer();
        metrics.rateLimit.set({ destination }, limiter.rate);
      }
    },
    { step: 'initialize', name: 'activationPutRecordsMetrics' },
  );
}
