import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

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
