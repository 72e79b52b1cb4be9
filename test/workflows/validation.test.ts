import assert from 'node:assert/strict';
import { join } from 'node:path';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import { InvalidInputError } from '../../src/domain/validationError';
import { waitFor } from '../../src/embedded/waitFor';
import { activateUpdate, configureUpdate } from '../../src/workflows/messages';
import { runCli } from '../support/cli';
import { updateFailure } from '../support/updateFailure';
import { useKinesisFixture } from '../support/kinesisFixture';
import { processEnv, withWorker } from '../support/temporal';
import type { WorkerContext } from '../support/temporal';

const STREAM = 'validation-stream';
const ROLE = 'arn:aws:iam::123456789012:role/writer';
const AKID = 'AKIAEXAMPLE0000001';

interface Row {
  what: string;
  /** Replaces fields of valid settings. */
  change: Record<string, unknown>;
  /** The same mistake made with CLI flags (replacing or adding to valid ones), where the CLI can make it. */
  flags?: Record<string, string>;
  message: string;
  /** What the workflow's validator says instead, where JSON changes the value on the way (NaN becomes null). */
  updateMessage?: string;
  /** What the CLI says instead, where it checks the flag itself and names the option. */
  cliMessage?: string;
}

const S = 'invalid destination settings: ';
const ROWS: Row[] = [
  {
    what: 'an unknown region',
    change: { region: 'mars-1' },
    flags: { region: 'mars-1' },
    message: `${S}region: must be an AWS region such as us-east-1`,
  },
  {
    what: 'a bad stream name',
    change: { stream: 'bad stream!' },
    flags: { stream: 'bad stream!' },
    message: `${S}stream: must be a Kinesis stream name (1-128 of a-z A-Z 0-9 _ . -) or ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)`,
  },
  {
    what: 'a stream ARN of another region',
    change: { stream: 'arn:aws:kinesis:eu-west-1:123456789012:stream/validation' },
    flags: { stream: 'arn:aws:kinesis:eu-west-1:123456789012:stream/validation' },
    message: `${S}stream: is a stream in eu-west-1 (its ARN says), not in the region us-east-1`,
  },
  { what: 'a blank name', change: { name: '  ' }, flags: { name: '  ' }, message: `${S}name: must not be empty` },
  {
    what: 'a non-http endpoint',
    change: { endpoint: 'ftp://x' },
    flags: { endpoint: 'ftp://x' },
    message: `${S}endpoint: must be an http(s) URL`,
  },
  {
    what: 'a lower-case access key id',
    change: { credentials: { type: 'accessKey', accessKeyId: 'akia123', secretAccessKeyEnv: 'X' } },
    flags: { 'access-key-id': 'akia123', 'secret-access-key-env': 'X' },
    message: `${S}credentials.accessKeyId: must be an AWS access key id (16-128 upper-case letters and digits)`,
  },
  {
    what: 'an access key without a secret reference',
    change: { credentials: { type: 'accessKey', accessKeyId: AKID } },
    flags: { 'access-key-id': AKID },
    message: `${S}credentials.secretAccessKeyEnv: is required (or secretAccessKeyFile): where the worker reads the secret access key`,
  },
  {
    what: 'two secret references',
    change: {
      credentials: {
        type: 'accessKey',
        accessKeyId: AKID,
        secretAccessKeyEnv: 'X',
        secretAccessKeyFile: '/run/secret',
      },
    },
    flags: { 'access-key-id': AKID, 'secret-access-key-env': 'X', 'secret-access-key-file': '/run/secret' },
    message: `${S}credentials.secretAccessKeyEnv: give secretAccessKeyEnv or secretAccessKeyFile, not both`,
  },
  {
    what: 'a bad environment variable name',
    change: { credentials: { type: 'accessKey', accessKeyId: AKID, secretAccessKeyEnv: 'NOT-A-VAR' } },
    flags: { 'access-key-id': AKID, 'secret-access-key-env': 'NOT-A-VAR' },
    message: `${S}credentials.secretAccessKeyEnv: must be an environment variable name such as KINESIS_SECRET`,
  },
  {
    what: 'a relative secret file',
    change: { credentials: { type: 'accessKey', accessKeyId: AKID, secretAccessKeyFile: 'secrets/key' } },
    flags: { 'access-key-id': AKID, 'secret-access-key-file': 'secrets/key' },
    message: `${S}credentials.secretAccessKeyFile: must be an absolute file path on the worker`,
  },
  {
    what: 'a malformed role ARN',
    change: { credentials: { type: 'assumeRole', roleArn: 'arn:aws:iam::12:role/x' } },
    flags: { 'role-arn': 'arn:aws:iam::12:role/x' },
    message: `${S}credentials.roleArn: must be an IAM role ARN such as arn:aws:iam::123456789012:role/kinesis-writer`,
  },
  {
    what: 'a one-character external id',
    change: { credentials: { type: 'assumeRole', roleArn: ROLE, externalId: 'x' } },
    flags: { 'role-arn': ROLE, 'external-id': 'x' },
    message: `${S}credentials.externalId: must be 2-1224 characters of letters, digits and +=,.@:/-`,
  },
  {
    what: 'a role and an access key together',
    change: { credentials: { type: 'assumeRole', roleArn: ROLE, accessKeyId: AKID } },
    flags: { 'role-arn': ROLE, 'access-key-id': AKID },
    message: `${S}credentials.accessKeyId: is not a known field`,
  },
  {
    what: 'an external id without a role',
    change: { credentials: { type: 'default', externalId: 'abc' } },
    flags: { 'external-id': 'abc' },
    message: `${S}credentials.externalId: is not a known field`,
  },
  {
    what: 'a bad STS endpoint',
    change: { credentials: { type: 'assumeRole', roleArn: ROLE, stsEndpoint: 'not a url' } },
    flags: { 'role-arn': ROLE, 'sts-endpoint': 'not a url' },
    message: `${S}credentials.stsEndpoint: must be an http(s) URL`,
  },
  {
    what: 'an unknown credentials type',
    change: { credentials: { type: 'password' } },
    message: `${S}credentials.type: must be one of "accessKey", "assumeRole", "default"`,
  },
  {
    what: 'records over 10 MiB',
    change: { maxRecordBytes: 20_000_000 },
    flags: { 'max-record-bytes': '20000000' },
    message: `${S}maxRecordBytes: must be <= 10485760`,
    cliMessage: "option '--max-record-bytes <n>' argument '20000000' is invalid. must be <= 10485760 (see --help)",
  },
  {
    what: 'a record size that is no number',
    change: { maxRecordBytes: Number('abc') },
    flags: { 'max-record-bytes': 'abc' },
    message: `${S}maxRecordBytes: expected number, received NaN`,
    cliMessage:
      "option '--max-record-bytes <n>' argument 'abc' is invalid. must be a whole number of bytes, optionally with KiB or MiB (e.g. 1048576 or 10MiB) (see --help)",
    updateMessage: `${S}maxRecordBytes: expected number, received null`,
  },
  { what: 'a misspelt field', change: { streem: 'x' }, message: `${S}streem: is not a known field` },
  {
    what: 'missing fields',
    change: { region: undefined, stream: undefined },
    message: `${S}region: is required; stream: is required`,
  },
];

const A = 'invalid activation: ';
const ACTIVATION_ROWS: { what: string; activation: unknown; args?: string[]; message: string }[] = [
  {
    what: 'no segment',
    activation: { segments: [], attributes: [] },
    message: `${A}segments: must map at least one segment`,
  },
  {
    what: 'an empty segment id',
    activation: { segments: [{ id: '' }], attributes: [] },
    args: ['--segment', ''],
    message: `${A}segments.0.id: must not be empty`,
  },
  {
    what: 'a reserved attribute path',
    activation: { segments: [{ id: 's' }], attributes: ['identityMap.x'] },
    args: ['--segment', 's', '--attribute', 'identityMap.x'],
    message: `${A}attributes.0: must not start with segmentMembership, identityMap or profileId`,
  },
  {
    what: 'a segment mapped twice',
    activation: { segments: [{ id: 'a' }, { id: 'a' }], attributes: [] },
    args: ['--segment', 'a', '--segment', 'a'],
    message: `${A}segments: must not map a segment twice`,
  },
];

function cliFlags(flags: Record<string, string>, id: string): string[] {
  const all: Record<string, string> = { name: 'valid', region: 'us-east-1', stream: STREAM, id, ...flags };
  return ['destination', 'create', ...Object.entries(all).flatMap(([flag, value]) => [`--${flag}`, value])];
}

describe('malformed settings are rejected at every boundary with one exact line, changing nothing', () => {
  let valid: DestinationSettingsInput;
  const fx = useKinesisFixture('validation', { streams: { [STREAM]: 1 } });

  before(() => {
    process.env.VALIDATION_TEST_SECRET = 'validation-test-secret';
    valid = {
      name: 'valid',
      region: 'us-east-1',
      stream: STREAM,
      endpoint: fx.emulator.endpoint,
      credentials: { type: 'accessKey', accessKeyId: AKID, secretAccessKeyEnv: 'VALIDATION_TEST_SECRET' },
    };
  });

  const startedCount = async ({ temporal }: WorkerContext, id: string): Promise<number> =>
    (await temporal.env.client.workflow.count(`WorkflowId = '${destinationWorkflowId(id)}'`)).count;

  it('client API: createDestination rejects each row, and no actor starts and nothing is stored', async () => {
    await withWorker(fx.store, async (ctx) => {
      for (const [i, row] of ROWS.entries()) {
        const id = `client-row-${i}`;
        await assert.rejects(ctx.client.createDestination({ ...valid, ...row.change }, id), (err: unknown) => {
          assert.ok(err instanceof InvalidInputError, `${row.what}: ${String(err)}`);
          assert.equal(err.message, row.message, row.what);
          return true;
        });
        assert.equal(await startedCount(ctx, id), 0, row.what);
        assert.equal(await fx.store.getDestination(id), undefined, row.what);
      }
      await assert.rejects(ctx.client.createDestination(valid, 'bad id!'), {
        message: 'invalid destination id: must be 1-64 of a-z A-Z 0-9 _ -',
      });
    });
  });

  it('update validators: configure and activate reject each row before it reaches history', async () => {
    await withWorker(fx.store, async (ctx) => {
      const { id } = await ctx.client.createDestination(valid, 'validated-actor');
      await waitFor(async () => (await ctx.client.status(id)).permissions?.ok, {
        timeoutMs: 30_000,
        what: 'the first permission check',
      });
      // The raw handle skips the client's own validation, so the workflow's validators are what answers.
      const handle = ctx.temporal.env.client.workflow.getHandle(destinationWorkflowId(id));
      for (const row of ROWS) {
        assert.equal(
          await updateFailure(handle.executeUpdate(configureUpdate, { args: [{ ...valid, ...row.change }] })),
          row.updateMessage ?? row.message,
          row.what,
        );
      }
      for (const row of ACTIVATION_ROWS) {
        assert.equal(
          await updateFailure(handle.executeUpdate(activateUpdate, { args: [row.activation as never] })),
          row.message,
          row.what,
        );
        await assert.rejects(ctx.client.activate(id, row.activation as never), {
          name: 'InvalidInputError',
          message: row.message,
        });
      }
      const history = await handle.fetchHistory();
      const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      assert.equal(accepted.length, 0, 'no rejected update is in history');
      const status = await ctx.client.status(id);
      assert.equal(status.name, 'valid');
      assert.equal(status.activation, null);
      assert.deepEqual((await fx.store.getDestination(id))?.settings, {
        ...valid,
        exportOptions: {
          includeSegmentNames: false,
          includeSegmentTimestamps: false,
          statusStyle: 'existing',
          includeMessageId: false,
        },
        partitionKey: { type: 'profileIdHash' },
      });
    });
  });

  it('CLI: each row the flags can express fails with exactly its line on stderr and starts nothing', async () => {
    await withWorker(fx.store, async (ctx) => {
      const env = processEnv(ctx.temporal.server, ctx.taskQueue, join(fx.dir, 'store.sqlite'));
      const rows = ROWS.filter((row) => row.flags !== undefined);
      assert.ok(rows.length >= 15);
      const results = await Promise.all(rows.map((row, i) => runCli(cliFlags(row.flags ?? {}, `cli-row-${i}`), env)));
      for (const [i, row] of rows.entries()) {
        const result = results[i];
        assert.ok(result);
        assert.equal(result.code, 1, row.what);
        assert.equal(result.stderr, `kinesis-activation: ${row.cliMessage ?? row.message}\n`, row.what);
        assert.equal(result.stdout, '', row.what);
        assert.equal(await startedCount(ctx, `cli-row-${i}`), 0, row.what);
      }

      const { id } = await ctx.client.createDestination(valid);
      for (const row of ACTIVATION_ROWS.filter((r) => r.args !== undefined)) {
        const result = await runCli(['activate', id, ...(row.args ?? [])], env);
        assert.equal(result.code, 1, row.what);
        assert.equal(result.stderr, `kinesis-activation: ${row.message}\n`, row.what);
      }
      assert.equal((await ctx.client.status(id)).activation, null);
    });
  });
});
