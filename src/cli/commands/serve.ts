import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { databaseUrlFromEnv } from '../../config';
import { INGEST_TOKENS_ENV, INGEST_TOKENS_FILE_ENV, ingestAuth, tokensFromEnv } from '../../http/auth';
import { DEFAULT_BODY_LIMIT, DEFAULT_MAX_IN_FLIGHT } from '../../http/ingestService';
import { startServeProcess } from '../../http/serveProcess';
import { ActivationMetrics } from '../../observability/metrics';
import { startMetricsServer } from '../../observability/metricsServer';
import { openStore } from '../../store/openStore';
import { parseByteSize } from '../destinationOptions';
import { emit } from '../output';
import { json, temporal } from '../context';

/** The ingest service's default port (`serve` and `dev`). */
export const DEFAULT_INGEST_PORT = '8080';

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return port;
}

function parsePositive(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'HTTP ingest service: POST/PATCH /v1/profiles, DELETE /v1/profiles/{id}, GET /healthz and /readyz; bearer tokens',
    )
    .addHelpText(
      'after',
      `\nTokens: ${INGEST_TOKENS_ENV} (comma-separated) and/or a file ` +
        `(--token-file, or ${INGEST_TOKENS_FILE_ENV}), one a line.\n` +
        `Status codes: 200 stored and announced, 202 stored but destinations not told (they catch up), ` +
        `400 bad body,\n` +
        `401 no or wrong token, 404, 413 body too large, 415 wrong content type, ` +
        `503 busy (Retry-After) or not ready.\n` +
        `\nExamples:\n` +
        `  $ ${INGEST_TOKENS_ENV}=$(openssl rand -base64 24) kinesis-activation serve --host 0.0.0.0 --port 8080\n` +
        `  $ kinesis-activation serve --insecure-no-auth   # loopback only`,
    )
    .option('--port <port>', 'port to listen on (0: any free port)', parsePort, parsePort(DEFAULT_INGEST_PORT))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--token-file <path>', 'file with the accepted bearer tokens, one a line')
    .option('--insecure-no-auth', 'serve without tokens (only with a loopback --host)')
    .option('--body-limit <size>', 'largest request body, e.g. 16MiB', parseByteSize, DEFAULT_BODY_LIMIT)
    .option('--max-in-flight <n>', 'requests in progress at once; past it 503', parsePositive, DEFAULT_MAX_IN_FLIGHT)
    .option('--metrics-port <port>', 'Prometheus metrics endpoint port (0: any free port)', parsePort, 9465)
    .action(
      async (
        opts: {
          port: number;
          host: string;
          tokenFile?: string;
          insecureNoAuth?: boolean;
          bodyLimit: number;
          maxInFlight: number;
          metricsPort: number;
        },
        cmd: Command,
      ) => {
        // Refused before anything is opened: no token and not explicitly open on loopback.
        const auth = ingestAuth(tokensFromEnv(opts.tokenFile), {
          insecureNoAuth: opts.insecureNoAuth === true,
          host: opts.host,
        });
        const store = await openStore(databaseUrlFromEnv());
        const metrics = new ActivationMetrics();
        const metricsServer = await startMetricsServer(metrics, { port: opts.metricsPort });
        const service = await startServeProcess({
          temporal,
          store,
          host: opts.host,
          port: opts.port,
          auth,
          metrics,
          bodyLimit: opts.bodyLimit,
          maxInFlight: opts.maxInFlight,
        }).catch(async (err: unknown) => {
          await metricsServer.stop();
          await store.close();
          throw err;
        });
        emit(
          json(cmd),
          { url: service.url, metricsUrl: metricsServer.url, auth: auth ? 'bearer' : 'none' },
          `ingest service ${service.url} ` +
            `(${auth ? `${auth.size} bearer token(s)` : 'NO authentication, loopback only'}); ` +
            `metrics ${metricsServer.url}`,
        );
        const stop = (): void =>
          void (async () => {
            await service.stop();
            await metricsServer.stop();
            await store.close();
            process.exit(0);
          })();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
