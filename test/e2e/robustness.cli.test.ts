import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { ensureStream } from '../../src/embedded/ensureStream';
import { waitFor } from '../../src/embedded/waitFor';
import { openStore } from '../../src/store/openStore';
import type { ActivationClient } from '../../src/client/activationClient';
import type { DestinationStatus } from '../../src/workflows/messages';
import { runCli } from '../support/cli';
import type { CliResult } from '../support/cli';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { processEnv, withWorker } from '../support/temporal';
import type { WorkerContext } from '../support/temporal';

const SECRET_ENV = 'ROBUST_CLI_KINESIS_SECRET';
const QUALIFIED = '2020-05-25T21:24:39Z';

/** Issue 17's rows, through the CLI against a real dev server, worker, emulator and store. */
describe('robustness: bad input and wrong turns get a clear answer (CLI over real servers)', function () {
  this.timeout(600_000);
  const fx = useKinesisFixture('robust-cli');

  before(() => {
    process.env[SECRET_ENV] = 'any';
  });

  async function newDestination(client: ActivationClient, stream: string, create = true): Promise<string> {
    if (create) await ensureStream(fx.kinesis, stream, 1);
    const { id } = await client.createDestination({
      name: stream,
      region: 'us-east-1',
      stream,
      endpoint: fx.emulator.endpoint,
      credentials: { type: 'accessKey', accessKeyId: 'AKIAROBUSTCLI0000001', secretAccessKeyEnv: SECRET_ENV },
    });
    return id;
  }

  const member = (line: object): string => JSON.stringify(line);

  it('rows 1, 3, 4, 14: ingest names each of 50 hostile lines among 10,000 good ones; stores and exports exactly the 10,000', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const stream = `robust-bulk-${randomUUID()}`;
      const id = await newDestination(client, stream);
      const seg = `bulk-${randomUUID()}`;
      await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });

      const hostile: ((i: number) => Buffer)[] = [
        (i) =>
          Buffer.from(
            `{"profileId":"h${i}","identityMap":{"ecid":[{"id":"h${i}"}]},"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
          ),
        (i) =>
          Buffer.concat([
            Buffer.from(`{"identityMap":{"ecid":[{"id":"caf`),
            Buffer.from([0xe9]),
            Buffer.from(`${i}"}]}}`),
          ]),
        (i) =>
          Buffer.from(
            `{"identityMap":{"ecid":[{"id":"h${i}"}]},"segmentMembership":{"ups":{"__proto__":{"status":"realized","lastQualificationTime":"${QUALIFIED}"}}}}`,
          ),
        (i) => Buffer.from(`{"identityMap":{"__proto__":[{"id":"h${i}"}]}}`),
        (i) => Buffer.from(`{"identityMap":{"ecid":[{"id":"h${i}"}]},"person":{"constructor":{"x":1}}}`),
        (i) => Buffer.from(member({ identityMap: { ecid: [{ id: `h${i}` }] }, person: 5 })),
        (i) => Buffer.from(member({ identityMap: { ecid: [{ id: `h${i}` }] }, person: { email: 42 } })),
      ];
      const goodLine = (n: number): Buffer =>
        Buffer.from(
          member({
            identityMap: { ecid: [{ id: `${seg}-${n}` }] },
            person: { email: `p${n}@example.com` },
            // Any offset and precision in; UTC seconds out.
            segmentMembership: {
              ups: { [seg]: { status: 'realized', lastQualificationTime: '2020-05-25T23:24:39.123456789+02:00' } },
            },
          }),
        );
      const lines: Buffer[] = [];
      const hostileAt: number[] = [];
      let good = 0;
      let bad = 0;
      for (let n = 1; good < 10_000 || bad < 50; n++) {
        if (bad < 50 && (n % 199 === 0 || good === 10_000)) {
          // One 20 MB line, the rest by kind in turn.
          lines.push(
            bad === 25
              ? Buffer.from(`{"identityMap":{"ecid":[{"id":"big"}]},"x":"${'x'.repeat(20 * 1024 * 1024)}"}`)
              : (hostile[bad % hostile.length] as (i: number) => Buffer)(bad),
          );
          bad++;
          hostileAt.push(n);
        } else {
          lines.push(goodLine(good++));
        }
      }
      const file = join(fx.dir, 'hostile.ndjson');
      writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));

      const result = await runCli(['ingest', file, '--json'], env);
      assert.equal(result.code, 3, result.stderr);
      const out = JSON.parse(result.stdout) as { accepted: number; rejected: { line: number; reason: string }[] };
      assert.equal(out.accepted, 10_000);
      assert.deepEqual(
        out.rejected.map((r) => r.line),
        hostileAt,
      );
      const reasons = out.rejected.map((r) => r.reason).join('\n');
      for (const pattern of [
        /nested too deeply/,
        /not valid UTF-8/,
        /line is \d+ bytes/,
        /__proto__: key is reserved/,
        /constructor: key is reserved/,
        /person: expected object, received number/,
        /person.email: expected string, received number/,
      ])
        assert.match(reasons, pattern);

      const status = await waitFor(
        async () => {
          const s = await client.status(id);
          return s.counters.exported >= 10_000 && s.pending === 0 ? s : null;
        },
        { timeoutMs: 240_000, what: '10,000 exports' },
      );
      assert.equal(status.counters.exported, 10_000);
      const records = await readAllRecords(fx.kinesis, stream, { timeoutMs: 120_000 });
      assert.equal(records.length, 10_000);
      const times = new Set(
        records.map(
          (r) =>
            (JSON.parse(r.data) as { segmentMembership: { ups: Record<string, { lastQualificationTime: string }> } })
              .segmentMembership.ups[seg]?.lastQualificationTime,
        ),
      );
      assert.deepEqual([...times], [QUALIFIED]);
    });
  });

  it('row 2: keeps a profile by its identities when it gains a primary one, so its exit is exported', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const stream = `robust-identity-${randomUUID()}`;
      const id = await newDestination(client, stream);
      const seg = `id-${randomUUID()}`;
      await client.activate(id, { segments: [{ id: seg }], attributes: [] });
      const ecid = `E-${randomUUID()}`;
      const ups = (status: string) => ({ ups: { [seg]: { status, lastQualificationTime: QUALIFIED } } });
      const first = await runCli(
        ['ingest', '-'],
        env,
        `${member({ identityMap: { ecid: [{ id: ecid }] }, segmentMembership: ups('realized') })}\n`,
      );
      assert.equal(first.code, 0, first.stderr);
      await waitFor(async () => (await client.status(id)).counters.exported === 1, {
        timeoutMs: 60_000,
        what: 'the entry',
      });
      const second = await runCli(
        ['ingest', '-'],
        env,
        `${member({ identityMap: { ecid: [{ id: ecid }], email: [{ id: `${ecid}@x`, primary: true }] }, segmentMembership: ups('exited') })}\n`,
      );
      assert.equal(second.code, 0, second.stderr);
      await waitFor(async () => (await client.status(id)).counters.exported === 2, {
        timeoutMs: 60_000,
        what: 'the exit',
      });
      const records = await readAllRecords(fx.kinesis, stream);
      assert.deepEqual(
        records.map(
          (r) =>
            (JSON.parse(r.data) as { segmentMembership: { ups: Record<string, { status: string }> } }).segmentMembership
              .ups[seg]?.status,
        ),
        ['realized', 'exited'],
      );
      assert.equal(records[0]?.partitionKey, records[1]?.partitionKey, 'one profile, one partition key');
    });
  });

  interface Turn {
    temporal: WorkerContext['temporal'];
    client: ActivationClient;
    cli: (args: string[], stdin?: string) => Promise<CliResult>;
  }

  /**
   * A worker over a store of its own: `destination list` then shows only destinations this
   * worker serves (the actors of earlier tests have no worker left to answer their status query).
   */
  async function withTurn(name: string, fn: (turn: Turn) => Promise<void>): Promise<void> {
    const file = join(fx.dir, `${name}-${randomUUID()}.sqlite`);
    const store = await openStore(file);
    try {
      await withWorker(store, async ({ temporal, client, taskQueue }) => {
        const env = processEnv(temporal.server, taskQueue, file);
        await fn({ temporal, client, cli: (args, stdin) => runCli(args, env, stdin) });
      });
    } finally {
      await store.close();
    }
  }

  const oneLine = (r: CliResult, pattern: RegExp): void => {
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), pattern);
  };

  it('row 11: ingest exits 3 when every line is rejected, with the reasons on stderr and the counts on stdout', () =>
    withTurn('rejected', async ({ cli }) => {
      const rejected = await cli(['ingest', '-'], '42\nnot json\n');
      assert.equal(rejected.code, 3);
      assert.equal(rejected.stdout, 'accepted 0, rejected 2\n');
      assert.match(rejected.stderr, /^line 1: expected object, received number\nline 2: invalid JSON/);
    }));

  it('row 6: a missing or unreadable input is one line naming the path, as JSON with --json', () =>
    withTurn('inputs', async ({ cli }) => {
      const dir = join(fx.dir, 'a-directory');
      mkdirSync(dir, { recursive: true });
      for (const [args, pattern] of [
        [['ingest', 'nope.ndjson'], /^kinesis-activation: cannot read nope.ndjson: no such file$/],
        [['ingest', dir], new RegExp(`^kinesis-activation: cannot read ${dir}: it is a directory`)],
        [['ingest', ''], /^kinesis-activation: ingest: no input file named/],
      ] as const) {
        const r = await cli([...args]);
        assert.equal(r.code, 1);
        oneLine(r, pattern);
      }
      const asJson = await cli(['ingest', 'nope.ndjson', '--json']);
      assert.equal(asJson.code, 1);
      assert.deepEqual(JSON.parse(asJson.stderr), { error: 'cannot read nope.ndjson: no such file' });
    }));

  it('row 13: "no such destination" points to `destination list`, as JSON on stderr with --json', () =>
    withTurn('unknown', async ({ cli }) => {
      const unknown = await cli(['status', 'no-such-id', '--json']);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(
        (JSON.parse(unknown.stderr) as { error: string }).error,
        /no such destination .*`kinesis-activation destination list` shows the ids/,
      );
    }));

  it("row 11: --version, and the global flags in every subcommand's --help", () =>
    withTurn('help', async ({ cli }) => {
      assert.match((await cli(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);
      for (const sub of [['status'], ['ingest'], ['destination', 'create'], ['peek']])
        assert.match((await cli([...sub, '--help'])).stdout, /Global Options:[\s\S]*--json/);
    }));

  it('row 4: reserved keys are refused at activation as at ingest', () =>
    withTurn('reserved', async ({ client, cli }) => {
      const id = await newDestination(client, `robust-reserved-${randomUUID()}`);
      const proto = await cli(['activate', id, '--segment', '__proto__']);
      assert.equal(proto.code, 1);
      oneLine(proto, /segments.0.id: is reserved/);
      const protoPath = await cli(['activate', id, '--segment', 's', '--attribute', 'person.__proto__.x']);
      oneLine(protoPath, /attributes.0: has a step that is reserved/);
    }));

  it('row 10: activate changes only what it names; a replacement needs --replace and prints the diff', () =>
    withTurn('activate', async ({ client, cli }) => {
      const id = await newDestination(client, `robust-activate-${randomUUID()}`);
      assert.equal((await cli(['activate', id, '--segment', 'a', '--segment', 'b'])).code, 0);
      const createdAt = (await client.status(id)).activation?.segments.find((s) => s.id === 'a')?.mappingCreatedAt;
      const narrowing = await cli(['activate', id, '--segment', 'a']);
      assert.equal(narrowing.code, 1);
      oneLine(narrowing, /replaces the whole mapping and unmaps segment b: add --replace/);
      assert.deepEqual(
        (await client.status(id)).activation?.segments.map((s) => s.id),
        ['a', 'b'],
      );
      const added = await cli(['activate', id, '--add-segment', 'c', '--add-attribute', 'person.email']);
      assert.equal(added.code, 0, added.stderr);
      assert.match(
        added.stdout,
        /^\+ segment c\n\+ attribute person.email\nactivated 3 segment\(s\) and 1 attribute\(s\)/,
      );
      const replaced = await cli(['activate', id, '--segment', 'a', '--replace']);
      assert.equal(replaced.code, 0, replaced.stderr);
      assert.match(replaced.stdout, /^- segment b\n- segment c\n- attribute person.email\nactivated 1 segment/);
      const kept = (await client.status(id)).activation?.segments;
      assert.deepEqual(
        kept?.map((s) => [s.id, s.mappingCreatedAt]),
        [['a', createdAt]],
      );
    }));

  it('row 5: reexport --wait on a paused destination says so and returns', () =>
    withTurn('paused', async ({ client, cli }) => {
      const id = await newDestination(client, `robust-paused-${randomUUID()}`);
      assert.equal((await cli(['activate', id, '--segment', 'a'])).code, 0);
      assert.equal((await cli(['pause', id])).code, 0);
      await waitFor(async () => (await client.status(id)).state === 'paused', { timeoutMs: 30_000, what: 'paused' });
      const waited = await cli(['reexport', id, '--wait', '--force']);
      assert.equal(waited.code, 1);
      oneLine(waited, new RegExp(`destination ${id} is paused: .*resume ${id}`));
    }));

  it('row 14: a destination with nothing mapped counts nothing as pending', () =>
    withTurn('unmapped', async ({ client, cli }) => {
      const id = await newDestination(client, `robust-unmapped-${randomUUID()}`);
      const lines = ['u1', 'u2', 'u3'].map((p) => member({ profileId: p, identityMap: { ecid: [{ id: p }] } }));
      assert.equal((await cli(['ingest', '-'], `${lines.join('\n')}\n`)).code, 0);
      // An update after the ingest sees every signal the ingest sent applied.
      assert.equal((await cli(['destination', 'check', id])).code, 0);
      assert.equal((await client.status(id)).pending, 0);
    }));

  it('row 13: a terminated actor is gone in list and status', () =>
    withTurn('gone', async ({ temporal, client, cli }) => {
      const id = await newDestination(client, `robust-gone-${randomUUID()}`);
      await waitFor(async () => (await client.status(id)).permissions !== null, {
        timeoutMs: 30_000,
        what: 'the first check',
      });
      await temporal.env.client.workflow.getHandle(destinationWorkflowId(id)).terminate('test');
      const listed = JSON.parse((await cli(['destination', 'list', '--json'])).stdout) as {
        id: string;
        status: DestinationStatus | null;
      }[];
      assert.equal(listed.find((d) => d.id === id)?.status, null);
      assert.match((await cli(['destination', 'list'])).stdout, new RegExp(`${id} +gone`));
      const gone = await cli(['status', id]);
      assert.equal(gone.code, 6);
      assert.match(gone.stdout, /State: gone/);
    }));

  it('row 9: destination create exits non-zero when its first check fails, printing the id; status exits non-zero in error; it retries by itself', async () => {
    await withWorker(fx.store, async ({ temporal, taskQueue }) => {
      const env = { ...processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite')) };
      const stream = `robust-missing-${randomUUID()}`;
      const created = await runCli(
        [
          'destination',
          'create',
          '--name',
          'missing',
          '--region',
          'us-east-1',
          '--stream',
          stream,
          '--endpoint',
          fx.emulator.endpoint,
          '--access-key-id',
          'AKIAROBUSTCLI0000001',
          '--secret-access-key-env',
          SECRET_ENV,
        ],
        env,
      );
      assert.equal(created.code, 4, created.stderr);
      const id = created.stdout.trim();
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.match(
        created.stderr,
        new RegExp(
          `^kinesis-activation: destination ${id} created, but its permission check failed: stream ${stream} not found`,
        ),
      );
      const status = await runCli(['status', id], env);
      assert.equal(status.code, 5, status.stderr);
      assert.match(status.stdout, /State: +error/);
      assert.match(status.stdout, /Next retry: +\S+ \(after 1 failed attempts\), or at once on resume/);

      // Once the stream exists, the destination recovers by itself on the error schedule.
      await ensureStream(fx.kinesis, stream, 1);
      await waitFor(async () => (await runCli(['status', id], env)).code === 0, {
        timeoutMs: 60_000,
        what: 'the destination to retry its check by itself',
      });
      assert.match((await runCli(['status', id], env)).stdout, /State: +idle/);
    });
  });

  it('rows 8, 12: peek validates --limit, never mentions Temporal, and shows the newest records by arrival time', async () => {
    const env = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    for (const limit of ['0', 'abc', '1.5']) {
      const r = await runCli(['peek', '--stream', 's', '--endpoint', fx.emulator.endpoint, '--limit', limit], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--limit .*: must be a whole number from 1 to 10000/);
    }
    const unreachable = await runCli(['peek', '--stream', 's', '--endpoint', 'http://127.0.0.1:1'], env);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^kinesis-activation: cannot read stream s at http:\/\/127.0.0.1:1: /);
    assert.doesNotMatch(unreachable.stderr, /Temporal/);

    // Two shards; the last record to arrive is on the first shard, not the last one.
    const stream = `robust-peek-${randomUUID()}`;
    await ensureStream(fx.kinesis, stream, 2);
    // Each record after the clock moved on, so arrival times differ.
    const put = async (data: string, hashKey: string) => {
      const at = Date.now();
      await waitFor(() => Date.now() > at + 5, { timeoutMs: 1000, intervalMs: 2, what: 'the clock to move on' });
      return fx.kinesis.send(
        new PutRecordCommand({
          StreamName: stream,
          PartitionKey: 'k',
          ExplicitHashKey: hashKey,
          Data: Buffer.from(`"${data}"`),
        }),
      );
    };
    await put('first', (2n ** 127n).toString());
    await put('second', (2n ** 127n + 1n).toString());
    await put('newest', '0');
    const peek = async (limit: string): Promise<string[]> => {
      const r = await runCli(
        ['peek', '--stream', stream, '--endpoint', fx.emulator.endpoint, '--limit', limit, '--json'],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { data: string }).data);
    };
    assert.deepEqual(await peek('1'), ['newest']);
    assert.deepEqual(await peek('2'), ['second', 'newest']);
    assert.deepEqual(await peek('20'), ['first', 'second', 'newest']);
  });
});
