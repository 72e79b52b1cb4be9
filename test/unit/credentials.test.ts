import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCredentials } from '../../src/aws/credentials';

const ACCESS_KEY_ID = 'AKIAUNITEXAMPLE001';

describe('credential references resolved on the worker', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ka-creds-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the secret access key from the named environment variable', () => {
    const resolved = resolveCredentials(
      { type: 'accessKey', accessKeyId: ACCESS_KEY_ID, secretAccessKeyEnv: 'MY_SECRET' },
      { region: 'us-east-1', env: { MY_SECRET: 's3cret' } },
    );
    assert.deepEqual(resolved, { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 's3cret' });
  });

  it('reads the secret access key from the named file, without its trailing newline', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'from-a-file\n');
    const resolved = resolveCredentials(
      { type: 'accessKey', accessKeyId: ACCESS_KEY_ID, secretAccessKeyFile: file },
      { region: 'us-east-1', env: {} },
    );
    assert.deepEqual(resolved, { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'from-a-file' });
  });

  it('names the reference that the worker cannot resolve', () => {
    assert.throws(
      () =>
        resolveCredentials(
          { type: 'accessKey', accessKeyId: ACCESS_KEY_ID, secretAccessKeyEnv: 'UNSET_VAR' },
          { region: 'us-east-1', env: {} },
        ),
      {
        name: 'CredentialsError',
        message: 'credentials.secretAccessKeyEnv: environment variable UNSET_VAR is not set on the worker',
      },
    );
    const missing = join(dir, 'missing');
    assert.throws(
      () =>
        resolveCredentials(
          { type: 'accessKey', accessKeyId: ACCESS_KEY_ID, secretAccessKeyFile: missing },
          { region: 'us-east-1', env: {} },
        ),
      {
        message: `credentials.secretAccessKeyFile: cannot read ${missing} on the worker (ENOENT)`,
      },
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.throws(
      () =>
        resolveCredentials(
          { type: 'accessKey', accessKeyId: ACCESS_KEY_ID, secretAccessKeyFile: empty },
          { region: 'us-east-1', env: {} },
        ),
      {
        message: `credentials.secretAccessKeyFile: ${empty} is empty`,
      },
    );
  });

  it('gives assumed-role credentials as a provider the client asks again, and leaves the default chain to the SDK', () => {
    assert.equal(
      typeof resolveCredentials(
        { type: 'assumeRole', roleArn: 'arn:aws:iam::123456789012:role/writer' },
        { region: 'us-east-1' },
      ),
      'function',
    );
    assert.equal(resolveCredentials({ type: 'default' }, { region: 'us-east-1' }), undefined);
  });
});
