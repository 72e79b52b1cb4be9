import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { onShutdown } from './services';

export interface TestPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  /** Stops the server (a fast shutdown: clients are cut off) and keeps its data, as an outage does. */
  down(): Promise<void>;
  /** Starts the stopped server again, on the same port with the same data, and resolves once it accepts connections. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

const READY_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 10_000;

function hasServerBinaries(dir: string): boolean {
  return existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));
}

/** The bin directory of the newest installed PostgreSQL server: pg_config's, else Debian's /usr/lib/postgresql/N/bin. */
function findBinDir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(
      execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
  } catch {
    // No pg_config on PATH: fall through to the Debian layout.
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  const found = candidates.find(hasServerBinaries);
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (initdb, postgres) not found (looked in: ${candidates.join(', ') || 'pg_config, /usr/lib/postgresql/*/bin'}). ` +
        'Install them with `apt-get install -y postgresql`.',
    );
  }
  return found;
}

/** PostgreSQL refuses to run as root: when we are root, its processes run as the `postgres` system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error(
      'running tests as root needs the `postgres` system user to run PostgreSQL (`apt-get install -y postgresql` creates it)',
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function run(command: string, args: string[], user: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...user });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${stderr.trim()}`)),
    );
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/**
 * Polls a connection until the server accepts it. Fails at once if the server exited (with the
 * tail of its log), and after READY_DEADLINE_MS otherwise.
 */
async function waitUntilReady(url: string, server: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  const log = () => readFileSync(logFile, 'utf8').slice(-2000).trim();
  let spawnError: Error | undefined;
  server.once('error', (err) => (spawnError = err));
  for (;;) {
    if (spawnError) throw spawnError;
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`postgres exited during startup:\n${log()}`);
    }
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(`postgres was not ready within ${READY_DEADLINE_MS} ms (${String(err)}):\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts a throwaway PostgreSQL server: a fresh cluster in a temp directory, trust auth, TCP on a
 * free localhost port only, durability off (fsync, synchronous_commit) since nothing must survive.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const binDir = findBinDir();
  const user = serverUser();
  const dir = await mkdtemp(join(tmpdir(), 'ka-pg-'));
  if (user) await chown(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  await run(
    join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
    user,
  );

  const log = await open(logFile, 'w');
  if (user) await log.chown(user.uid, user.gid);
  const spawnServer = (port: number): ChildProcess =>
    spawn(
      join(binDir, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        // No Unix socket: the packaged default directory may be missing or not ours.
        '-c',
        'unix_socket_directories=',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { stdio: ['ignore', log.fd, log.fd], ...user },
    );
  // The port is probed free, but another process can take it before postgres binds: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let server = spawnServer(port);
    // If the test process exits without running its shutdown hooks, leave no server behind, and
    // try to leave no files (the server's last processes may still be writing: best effort).
    const killOnExit = () => {
      server.kill('SIGKILL');
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // Left in the temp directory; nothing else depends on it.
      }
    };
    process.once('exit', killOnExit);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    try {
      await waitUntilReady(url, server, logFile);
    } catch (err) {
      server.kill('SIGKILL');
      await exited(server);
      process.removeListener('exit', killOnExit);
      if (attempt < 3 && /could not bind|Address already in use/i.test(readFileSync(logFile, 'utf8'))) continue;
      await log.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const shutDown = async (): Promise<void> => {
      // SIGINT is PostgreSQL's fast shutdown: it disconnects clients and exits promptly.
      server.kill('SIGINT');
      const timer = setTimeout(() => server.kill('SIGKILL'), STOP_DEADLINE_MS);
      await exited(server);
      clearTimeout(timer);
    };
    return {
      url,
      down: shutDown,
      async up() {
        server = spawnServer(port);
        await waitUntilReady(url, server, logFile);
      },
      async stop() {
        process.removeListener('exit', killOnExit);
        await shutDown();
        await log.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

let shared: Promise<TestPostgres> | undefined;

/** The test process's PostgreSQL server, started on first use and stopped after all tests. */
export function getTestPostgres(): Promise<TestPostgres> {
  shared ??= startPostgres().then((pg) => {
    onShutdown(() => pg.stop());
    return pg;
  });
  return shared;
}

/** Creates an empty database on `server` (the shared one by default) and returns its URL, so each suite starts clean. */
export async function createTestDatabase(server?: TestPostgres): Promise<string> {
  const { url } = server ?? (await getTestPostgres());
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  return dbUrl.toString();
}
