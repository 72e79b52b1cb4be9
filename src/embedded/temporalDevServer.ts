import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../searchAttributes';
import { findTemporalCli } from './temporalCli';
import { freePorts } from './freePort';
import { waitFor } from './waitFor';

export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  port?: number;
  uiPort?: number;
  /** History is kept in this SQLite file (survives restarts); in memory when absent. */
  dbFilename?: string;
  headless?: boolean;
  namespace?: string;
  startTimeoutMs?: number;
  /**
   * Dynamic config values (`--dynamic-config-value KEY=VALUE`), e.g. a low `limit.historyCount.suggestContinueAsNew`.
   */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** The Web UI asks this codec endpoint to decrypt payloads. */
  uiCodecEndpoint?: string;
  /** false: start without our search attributes, as a plain `temporal server start-dev` does. */
  searchAttributes?: boolean;
}

/**
 * Starts `temporal server start-dev` and resolves once its frontend answers. Our search
 * attributes are registered at start, so a plain dev server needs no other step.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const host = '127.0.0.1';
  // Chosen together so that no two coincide (a port freed a moment ago can be handed out again).
  const [frontendPort, httpPort, metricsPort, freeUiPort] = await freePorts(4);
  const port = options.port ?? frontendPort;
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'error',
  ];
  args.push('--http-port', String(httpPort), '--metrics-port', String(metricsPort));
  let uiUrl: string | undefined;
  if (options.headless) {
    args.push('--headless');
  } else {
    const uiPort = options.uiPort ?? freeUiPort;
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://${host}:${uiPort}`;
  }
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  if (options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.searchAttributes !== false)
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);

  const child = spawn(findTemporalCli(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `${host}:${port}`;

  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`temporal dev server exited with code ${child.exitCode}: ${stderr.trim()}`);
        const connection = await Connection.connect({ address, connectTimeout: 1000 });
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return true;
        } finally {
          await connection.close();
        }
      },
      { timeoutMs: options.startTimeoutMs ?? 60_000, what: `Temporal dev server on ${address}` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    address,
    ...(uiUrl ? { uiUrl } : {}),
    namespace,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
