import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ensureStream } from '../src/embedded/ensureStream';
import { freePorts } from '../src/embedded/freePort';
import { waitFor } from '../src/embedded/waitFor';
import { createKinesisClient } from '../src/kinesis/client';
import type { KinesisFaults } from '../test/support/kinesisFaultProxy';

export interface Emulator {
  endpoint: string;
  /** The same emulator behind the fault proxy, where the benchmark has one. */
  proxyEndpoint?: string;
  pid: number;
  stop(): void;
}

/**
 * The emulator (and the fault proxy in front of it) in a child process, so it does not share our
 * event loop. With `path`, kinesalite keeps streams in LevelDB there instead of in memory (a
 * million records would otherwise sit in the emulator's heap). The proxy injects `faults`
 * (by default per-shard throttling at the service's limits).
 */
export async function startEmulatorProcess(
  options: { path?: string; faults?: Partial<KinesisFaults> } = {},
): Promise<Emulator & { proxyEndpoint: string }> {
  const script = require.resolve('./emulatorProcess');
  const execArgv = script.endsWith('.ts') ? ['-r', 'ts-node/register'] : [];
  const child = spawn(process.execPath, [...execArgv, script, ...(options.path ? [options.path] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_PROXY_FAULTS: JSON.stringify(options.faults ?? { shardThrottling: true }) },
  });
  const [line] = await new Promise<string[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (l) => resolve([l]));
  });
  const endpoints = JSON.parse(line ?? '{}') as { endpoint: string; proxyEndpoint: string };
  return { ...endpoints, pid: child.pid as number, stop: () => child.stdin.end() };
}

/** The emulator process keeping data under `dir`/kinesis, a client of it and a ready stream; `stop` ends both. */
export async function startBenchStream(
  dir: string,
  stream: string,
  shards: number,
): Promise<{ emulator: Emulator; kinesis: KinesisClient; stop: () => Promise<void> }> {
  mkdirSync(join(dir, 'kinesis'));
  const emulator = await startEmulatorProcess({ path: join(dir, 'kinesis') });
  const kinesis = createKinesisClient({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  const stop = (): Promise<void> => {
    kinesis.destroy();
    emulator.stop();
    return Promise.resolve();
  };
  try {
    await ensureStream(kinesis, stream, shards);
  } catch (err) {
    await stop();
    throw err;
  }
  return { emulator, kinesis, stop };
}

/** Where the kinesis-local package (kinesis-mock, the engine LocalStack uses) is installed, if it is. */
export function kinesisLocalMain(): string | undefined {
  try {
    return require.resolve('kinesis-local/main.js');
  } catch {
    return undefined;
  }
}

/** kinesis-local in a child process, on a plain-HTTP port, with streams created at once. */
export async function startKinesisLocalProcess(main: string): Promise<Emulator> {
  const [plainPort, tlsPort] = await freePorts(2);
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plainPort),
      KINESIS_MOCK_TLS_PORT: String(tlsPort),
      KINESIS_MOCK_CERT_PATH: join(dirname(main), 'server.json'),
      CREATE_STREAM_DURATION: '0ms',
      SHARD_LIMIT: '1000',
      LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const endpoint = `http://127.0.0.1:${plainPort}`;
  const client = createKinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    await waitFor(
      () =>
        client.send(new ListStreamsCommand({})).then(
          () => true,
          () => undefined,
        ),
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: `kinesis-local to answer on ${endpoint}`,
      },
    );
  } catch (err) {
    child.kill();
    throw err;
  } finally {
    client.destroy();
  }
  // SIGKILL: its runtime's shutdown hook can leave it running after SIGTERM; it keeps nothing.
  return { endpoint, pid: child.pid as number, stop: () => child.kill('SIGKILL') };
}
