import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const BIN = resolve(__dirname, '..', '..', 'bin', 'kinesis-activation');
const BUILT = resolve(__dirname, '..', '..', 'lib', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The output of a command that must succeed; a failure names `what` and shows what the CLI said. */
export function succeeded(result: CliResult, what: string): string {
  assert.equal(result.code, 0, `${what}: ${result.stderr}`);
  return result.stdout;
}

/** `destination create` for a destination on the Kinesis emulator whose secret the worker reads from `secretEnv`. */
export function emulatorCreateArgs(d: {
  name: string;
  stream: string;
  endpoint: string;
  accessKeyId: string;
  secretEnv: string;
}): string[] {
  return [
    'destination',
    'create',
    '--name',
    d.name,
    '--region',
    'us-east-1',
    '--stream',
    d.stream,
    '--endpoint',
    d.endpoint,
    '--access-key-id',
    d.accessKeyId,
    '--secret-access-key-env',
    d.secretEnv,
  ];
}

/** Runs the installed CLI (bin/kinesis-activation over the build) as a user's script would. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<CliResult> {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npm run build` (npm test does it)');
  return new Promise((resolvePromise) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

/**
 * Starts the CLI with its stdin open (a feed the test writes to as it goes); `result` resolves
 * when it exits.
 */
export function spawnCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcessWithoutNullStreams; result: Promise<CliResult> } {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npm run build` (npm test does it)');
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<CliResult>((done) =>
    child.once('close', (code) => done({ code: code ?? 1, stdout, stderr })),
  );
  return { child, result };
}
