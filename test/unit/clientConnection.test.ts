import assert from 'node:assert/strict';
import { clientConnectionOptions } from '../../src/temporal/clientConnection';

describe('clientConnectionOptions', () => {
  it('gives every client connection a reconnect backoff of at most 2 s, with the TLS and API key configured', () => {
    const options = clientConnectionOptions({
      address: 'temporal.example:7233',
      namespace: 'ns',
      taskQueue: 'q',
      tls: true,
      apiKey: 'key',
    });
    assert.deepEqual(options.channelArgs, {
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    assert.equal(options.address, 'temporal.example:7233');
    assert.equal(options.tls, true);
    assert.equal(options.apiKey, 'key');
  });

  it('leaves TLS and the API key out when none is configured', () => {
    const options = clientConnectionOptions({ address: 'localhost:7233', namespace: 'default', taskQueue: 'q' });
    assert.equal('tls' in options, false);
    assert.equal('apiKey' in options, false);
  });
});
