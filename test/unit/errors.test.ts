import assert from 'node:assert/strict';
import {
  AccessDeniedException,
  InternalFailureException,
  KMSThrottlingException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { classifyEntryError, classifyError, KinesisTerminalError, terminalError } from '../../src/kinesis/errors';

/** An error shaped like the SDK's unmodelled service errors. */
function serviceError(name: string, status: number, message = `${name} happened`): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

function networkError(code: string, message = `connect ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyError', () => {
  const terminal = [
    'AccessDeniedException',
    'ResourceNotFoundException',
    'InvalidArgumentException',
    'ValidationException',
    'KMSAccessDeniedException',
    'KMSDisabledException',
    'KMSNotFoundException',
    'KMSInvalidStateException',
    'KMSOptInRequired',
    'UnrecognizedClientException',
    'InvalidSignatureException',
  ];
  for (const name of terminal) {
    it(`stops on ${name}`, () => {
      assert.deepEqual(classifyError(serviceError(name, 400, 'no')), {
        kind: 'terminal',
        code: name,
        throttled: false,
        message: 'no',
      });
    });
  }

  it('recognises the SDK exception classes', () => {
    const meta = { $metadata: { httpStatusCode: 400 } };
    assert.equal(classifyError(new AccessDeniedException({ message: 'denied', ...meta })).kind, 'terminal');
    assert.equal(classifyError(new ResourceNotFoundException({ message: 'gone', ...meta })).kind, 'terminal');
    assert.deepEqual(classifyError(new ProvisionedThroughputExceededException({ message: 'slow', ...meta })), {
      kind: 'retryable',
      code: 'ProvisionedThroughputExceededException',
      throttled: true,
      message: 'slow',
    });
    assert.equal(classifyError(new KMSThrottlingException({ message: 'kms', ...meta })).throttled, true);
    assert.equal(
      classifyError(new InternalFailureException({ message: 'oops', $metadata: { httpStatusCode: 500 } })).kind,
      'retryable',
    );
  });

  for (const name of ['ProvisionedThroughputExceededException', 'LimitExceededException', 'KMSThrottlingException']) {
    it(`retries ${name} as throttling`, () => {
      assert.deepEqual(classifyError(serviceError(name, 400)), {
        kind: 'retryable',
        code: name,
        throttled: true,
        message: `${name} happened`,
      });
    });
  }

  it('retries expired temporary credentials (they are refreshed), without a throttling signal', () => {
    assert.deepEqual(classifyError(serviceError('ExpiredTokenException', 400)), {
      kind: 'retryable',
      code: 'ExpiredTokenException',
      throttled: false,
      message: 'ExpiredTokenException happened',
    });
  });

  it('retries InternalFailure and any 5xx', () => {
    assert.equal(classifyError(serviceError('InternalFailure', 500)).kind, 'retryable');
    assert.equal(classifyError(serviceError('ServiceUnavailable', 503)).kind, 'retryable');
    assert.deepEqual(classifyError(serviceError('SomethingNew', 502)), {
      kind: 'retryable',
      code: 'SomethingNew',
      throttled: false,
      message: 'SomethingNew happened',
    });
  });

  it('retries 429 as throttling and 408 as transient', () => {
    assert.deepEqual(classifyError(serviceError('Unknown', 429)).throttled, true);
    assert.deepEqual(classifyError(serviceError('Unknown', 408)), {
      kind: 'retryable',
      code: 'Unknown',
      throttled: false,
      message: 'Unknown happened',
    });
  });

  it('stops on other 4xx errors, which the service would refuse again', () => {
    assert.equal(classifyError(serviceError('SerializationException', 400)).kind, 'terminal');
  });

  it('names an HTTP answer without a Kinesis error as not Kinesis, unless it is one a retry may fix', () => {
    // The SDK's errors for a web server's HTML 404 (unreadable body) and a JSON one without __type.
    for (const name of ['SyntaxError', 'Unknown']) {
      assert.deepEqual(classifyError(serviceError(name, 404)), {
        kind: 'terminal',
        code: 'NotKinesisEndpoint',
        throttled: false,
        message: 'the endpoint answered HTTP 404: is this a Kinesis endpoint?',
      });
    }
    assert.equal(classifyError(serviceError('SyntaxError', 502)).kind, 'retryable');
    assert.equal(classifyError(serviceError('ResourceNotFoundException', 400)).code, 'ResourceNotFoundException');
  });

  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']) {
    it(`retries the network error ${code}`, () => {
      assert.deepEqual(classifyError(networkError(code)), {
        kind: 'retryable',
        code,
        throttled: false,
        message: `connect ${code}`,
      });
    });
  }

  it('retries a socket hang up and SDK timeouts', () => {
    assert.equal(classifyError(new Error('socket hang up')).code, 'ECONNRESET');
    assert.equal(classifyError(new Error('socket hang up')).kind, 'retryable');
    assert.equal(
      classifyError(Object.assign(new Error('Connection timed out after 5000 ms'), { name: 'TimeoutError' })).kind,
      'retryable',
    );
  });

  it('retries errors raised before any response', () => {
    assert.deepEqual(classifyError(new Error('credential provider failed')), {
      kind: 'retryable',
      code: 'UnknownError',
      throttled: false,
      message: 'credential provider failed',
    });
    assert.equal(classifyError('a string').kind, 'retryable');
  });
});

describe('classifyEntryError', () => {
  it('takes only ProvisionedThroughputExceededException entries as a signal to slow down', () => {
    assert.deepEqual(classifyEntryError('ProvisionedThroughputExceededException'), { throttled: true });
    assert.deepEqual(classifyEntryError('InternalFailure'), { throttled: false });
    assert.deepEqual(classifyEntryError('SomethingUndocumented'), { throttled: false });
  });
});

describe('KinesisTerminalError', () => {
  it('names the cause and the operation on one line', () => {
    const error = terminalError(
      classifyError(
        serviceError('AccessDeniedException', 400, 'User: x is not authorized\n to perform: kinesis:PutRecords'),
      ),
      'PutRecords',
    );
    assert.ok(error instanceof KinesisTerminalError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'KinesisTerminalError');
    assert.equal(error.code, 'AccessDeniedException');
    assert.equal(error.operation, 'PutRecords');
    assert.equal(
      error.message,
      'AccessDeniedException on PutRecords: User: x is not authorized to perform: kinesis:PutRecords',
    );
  });

  it('says so when the service gave no message', () => {
    assert.equal(
      new KinesisTerminalError('KMSOptInRequired', 'PutRecords', '').message,
      'KMSOptInRequired on PutRecords: no message',
    );
  });
});
