import assert from 'node:assert/strict';
import { messageIdOf, withMessageId } from '../../src/domain/messageId';
import type { ExportRecord } from '../../src/domain/projection';

describe('messageId', () => {
  it('is the same for the same destination, profile and change sequence, whenever derived', () => {
    assert.equal(messageIdOf('dest-1', 'profile-1', 42), messageIdOf('dest-1', 'profile-1', 42));
    assert.match(messageIdOf('dest-1', 'profile-1', 42), /^[\w-]{22}$/);
  });

  it('differs when the destination, the profile or the change sequence differs', () => {
    const ids = [
      messageIdOf('dest-1', 'profile-1', 42),
      messageIdOf('dest-2', 'profile-1', 42),
      messageIdOf('dest-1', 'profile-2', 42),
      messageIdOf('dest-1', 'profile-1', 43),
      // Parts are delimited: moving characters between them gives another id.
      messageIdOf('dest-1p', 'rofile-1', 42),
    ];
    assert.equal(new Set(ids).size, ids.length);
  });

  it('comes first in the record, the seed fields following unchanged', () => {
    const record: ExportRecord = {
      person: { email: 'a@example.com' },
      segmentMembership: { ups: { s: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
      identityMap: { ecid: [{ id: 'e1' }] },
    };
    const stamped = withMessageId(record, 'id-1');
    assert.equal(JSON.stringify(stamped), `{"messageId":"id-1",${JSON.stringify(record).slice(1)}`);
    assert.equal(record.messageId, undefined, 'the record given is left as it was');
  });
});
