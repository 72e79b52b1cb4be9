import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { waitFor } from '../../src/embedded/waitFor';

/** The repository root, from test/support or from its build under lib/ (the benchmarks run from there). */
function repositoryRoot(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'kinesis-activation'))) return dir;
  }
  throw new Error(`no bin/kinesis-activation above ${from}`);
}

const ROOT = repositoryRoot(__dirname);
const BIN = join(ROOT, 'bin', 'kinesis-activation');
const BUILT = join(ROOT, 'lib', 'src', 'cli', 'main.js');

export interface WorkerProcess {
  child: ChildProcess;
  /** The worker identity Temporal records for it (the SDK's default: pid@host). */
  identity: string;
  /** The last lines the worker wrote to stderr (for failure messages). */
  output(): string;
  /** Stops it with SIGKILL: no shutdown, activities in flight are cut off. */
  kill(): Promise<void>;
  /** Stops it with SIGTERM (a graceful worker shutdown) and resolves with its exit code; SIGKILL after 30 s. */
  stop(): Promise<number | null>;
}

/**
 * Starts `kinesis-activation worker` as its own process (so a test can SIGKILL it) and resolves
 * once it polls its task queue. `env` carries TEMPORAL_ADDRESS, KINESIS_ACTIVATION_TASK_QUEUE
 * and DATABASE_URL. `argv`: another script that starts the product's worker process (and logs
 * `worker started` as it does), with its arguments.
 */
export async function startWorkerProcess(
  env: NodeJS.ProcessEnv,
  argv: readonly string[] = [BIN, 'worker'],
): Promise<WorkerProcess> {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npx tsc -p .` first');
  const child = spawn(process.execPath, argv, {
    // Any free port for its metrics endpoint: several workers run on this one host.
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  const worker: WorkerProcess = {
    child,
    identity: `${child.pid}@${hostname()}`,
    output: () => stderr,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  try {
    await Promise.race([
      waitFor(() => /"msg":"worker started"/.test(stderr), {
        timeoutMs: 90_000,
        what: 'the worker process to poll its task queue',
      }),
      exited.then(() => {
        throw new Error(`the worker exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
      }),
    ]);
  } catch (err) {
    await worker.kill();
    throw err;
  }
  return worker;
}
