import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ActivationMetrics } from './metrics';

export interface MetricsServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Serves /metrics in Prometheus text format: the worker's own metrics, followed by the Temporal
 * SDK's worker metrics when the SDK exports them on `sdkMetricsUrl`, so one scrape target has both.
 */
export async function startMetricsServer(
  metrics: ActivationMetrics,
  options: { port: number; host?: string; sdkMetricsUrl?: string },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    void (async () => {
      const own = await metrics.registry.metrics();
      const sdk = options.sdkMetricsUrl
        ? await fetch(options.sdkMetricsUrl)
            .then((r) => r.text())
            .catch(() => '')
        : '';
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(`${own}\n${sdk}`);
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/metrics`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
