import assert from 'node:assert/strict';
import type { ConnectionLike } from '@temporalio/client';
import { ensureSearchAttributes } from '../../src/temporal/searchAttributeRegistration';

/**
 * A connection whose operator service lists no attributes and refuses to add them with
 * PERMISSION_DENIED, as Temporal Cloud or a locked-down cluster answers (a dev server cannot be
 * made to refuse; the behaviour with a real server is in test/integration/createBeforeWorker).
 */
const refusing = {
  operatorService: {
    listSearchAttributes: () => Promise.resolve({ customAttributes: { Other: 2 }, systemAttributes: {} }),
    addSearchAttributes: () => Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED: denied'), { code: 7 })),
  },
} as unknown as Pick<ConnectionLike, 'operatorService'>;

describe('ensureSearchAttributes without the right to add them', () => {
  it('fails with one line naming the missing attributes and the exact command to run', async () => {
    await assert.rejects(ensureSearchAttributes(refusing, 'prod'), (err: Error) => {
      assert.equal(
        err.message,
        'search attributes DestinationId, KinesisStream, DestinationState, DestinationName are missing from namespace prod and these credentials may not add them; an operator must run: temporal operator search-attribute create --namespace prod --name DestinationId --type Keyword --name KinesisStream --type Keyword --name DestinationState --type Keyword --name DestinationName --type Keyword',
      );
      return true;
    });
  });
});
