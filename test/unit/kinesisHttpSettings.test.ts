import assert from 'node:assert/strict';
import { httpSettingsFromEnv } from '../../src/kinesis/client';

describe('httpSettingsFromEnv', () => {
  it('reads each setting from its variable and leaves unset ones to the defaults', () => {
    assert.deepEqual(
      httpSettingsFromEnv({
        KINESIS_ACTIVATION_KINESIS_REQUEST_TIMEOUT_MS: '2500',
        KINESIS_ACTIVATION_KINESIS_MAX_SOCKETS: '8',
        KINESIS_ACTIVATION_KINESIS_CONNECTION_TIMEOUT_MS: '',
      }),
      { requestTimeoutMs: 2500, maxSockets: 8 },
    );
  });

  it('rejects a value that is not a positive whole number, naming the variable', () => {
    for (const bad of ['0', '-1', '1.5', '10s']) {
      assert.throws(
        () => httpSettingsFromEnv({ KINESIS_ACTIVATION_KINESIS_CONNECTION_TIMEOUT_MS: bad }),
        new RegExp(
          `^Error: KINESIS_ACTIVATION_KINESIS_CONNECTION_TIMEOUT_MS must be a positive whole number, got ${bad}$`,
        ),
      );
    }
  });
});
