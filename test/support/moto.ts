import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../src/embedded/freePort';
import { waitFor } from '../../src/embedded/waitFor';
import { onShutdown } from './services';

/** An assumed-role session as moto recorded it. */
export interface AssumedRole {
  access_key_id: string;
  role_arn: string;
  session_name: string;
  external_id: string | null;
}

export interface TestMoto {
  /** The STS endpoint (moto serves every service on one port). */
  endpoint: string;
  /** Every AssumeRole session moto issued, oldest first. */
  assumedRoles(): Promise<AssumedRole[]>;
}

const INSTALL_HINT = "moto's server is needed for the AssumeRole tests: python3 -m pip install 'moto[server]'";

let shared: Promise<TestMoto> | undefined;

/**
 * moto (PyPI `moto[server]`), a real AWS emulator, serving STS AssumeRole on a free port;
 * started on first use and stopped after all tests.
 */
export function getTestMoto(): Promise<TestMoto> {
  shared ??= startMoto();
  return shared;
}

async function startMoto(): Promise<TestMoto> {
  const port = await freePort();
  const child: ChildProcess = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  const dataUrl = `${endpoint}/moto-api/data.json`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`moto exited with code ${child.exitCode}: ${stderr.trim()}; ${INSTALL_HINT}`);
        return (await fetch(dataUrl)).ok;
      },
      { timeoutMs: 30_000, what: `moto on ${endpoint} (${INSTALL_HINT})` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  onShutdown(async () => {
    process.removeListener('exit', killOnExit);
    child.kill('SIGTERM');
    await exited;
  });
  return {
    endpoint,
    async assumedRoles() {
      const data = (await (await fetch(dataUrl)).json()) as { sts?: { AssumedRole?: AssumedRole[] } };
      return data.sts?.AssumedRole ?? [];
    },
  };
}
