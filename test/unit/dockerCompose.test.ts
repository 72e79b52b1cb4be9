import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '..', '..');

interface Service {
  image?: string;
  build?: string;
  depends_on?: string[] | Record<string, unknown>;
  environment?: Record<string, string>;
  command?: string[];
}

/** No Docker engine runs here, so the compose file is checked the way `docker compose config` would. */
describe('docker-compose.yml (scale-out shape)', () => {
  const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };
  const services = compose.services;

  it('has Temporal on PostgreSQL, the Temporal UI, a Kinesis emulator, a PostgreSQL store and the worker', () => {
    for (const name of ['temporal-db', 'temporal', 'temporal-ui', 'kinesis', 'store-db', 'worker'])
      assert.ok(services[name], `service ${name}`);
    assert.equal(services.temporal?.environment?.DB, 'postgres12');
    assert.equal(services.temporal?.environment?.POSTGRES_SEEDS, 'temporal-db');
    assert.match(services['temporal-ui']?.image ?? '', /^temporalio\/ui:/);
  });

  it('points the worker at Temporal and the PostgreSQL store, and builds it from this repository', () => {
    const worker = services.worker;
    assert.equal(worker?.build, '.');
    assert.ok(existsSync(resolve(ROOT, 'Dockerfile')));
    assert.equal(worker?.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.match(worker?.environment?.DATABASE_URL ?? '', /^postgres:\/\/.+@store-db:5432\//);
    assert.deepEqual(worker?.command, ['worker']);
  });

  it('only depends on services and volumes it defines', () => {
    for (const [name, service] of Object.entries(services)) {
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) assert.ok(services[dep], `${name} depends on undefined service ${dep}`);
    }
    const text = readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8');
    for (const [, volume] of text.matchAll(/^\s+- ([a-z-]+):\/var\/lib/gm))
      assert.ok(volume && compose.volumes && volume in compose.volumes, `volume ${volume}`);
  });

  it('runs the same kinesalite version the project depends on', () => {
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const version = (pkg.dependencies.kinesalite ?? '').replace(/^\^/, '');
    assert.ok(services.kinesis?.command?.includes(`kinesalite@${version}`));
  });
});
