import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ensureStream } from '../src/embedded/ensureStream';
import { createKinesisClient } from '../src/kinesis/client';

export interface Emulator {
  endpoint: string;
  throttledEndpoint: string;
  pid: number;
  stop(): void;
}

/**
 * The emulator (and the throttling proxy) in a child process, so it does not share our event
 * loop. With `path`, kinesalite keeps streams in LevelDB there instead of in memory (a million
 * records would otherwise sit in the emulator's heap).
 */
export async function startEmulatorProcess(options: { path?: string } = {}): Promise<Emulator> {
  const script = require.resolve('./emulatorProcess');
  const execArgv = script.endsWith('.ts') ? ['-r', 'ts-node/register'] : [];
  const child = spawn(process.execPath, [...execArgv, script, ...(options.path ? [options.path] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = await new Promise<string[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (l) => resolve([l]));
  });
  const endpoints = JSON.parse(line ?? '{}') as { endpoint: string; throttledEndpoint: string };
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
