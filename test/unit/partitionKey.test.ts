import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  MAX_PARTITION_KEY_LENGTH,
  defaultPartitionKeyStrategy,
  partitionKeyOf,
  partitionKeyStrategySchema,
} from '../../src/domain/partitionKey';
import type { ProfileSnapshot } from '../../src/domain/profile';

const snapshot: ProfileSnapshot = {
  identityMap: { ecid: [{ id: '111' }, { id: '222' }], Email_LC_SHA256: [{ id: 'abc' }] },
  person: { email: 'a@x', age: 42, name: { first: 'Ada' }, empty: '' },
};
const hashOf = (profileId: string): string => createHash('sha256').update(profileId).digest('hex');

describe('partitionKeyOf', () => {
  it('defaults to the hex SHA-256 of the profile id, stable across calls', () => {
    const key = partitionKeyOf(defaultPartitionKeyStrategy, 'ecid:111', snapshot);
    assert.equal(key, hashOf('ecid:111'));
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(partitionKeyOf({ type: 'profileIdHash' }, 'ecid:111', snapshot), key);
    assert.notEqual(partitionKeyOf(defaultPartitionKeyStrategy, 'ecid:222', snapshot), key);
  });

  it('identityNamespace: the first id of that namespace (case-insensitive), else the hash', () => {
    assert.equal(partitionKeyOf({ type: 'identityNamespace', namespace: 'ecid' }, 'p', snapshot), '111');
    assert.equal(partitionKeyOf({ type: 'identityNamespace', namespace: 'email_lc_sha256' }, 'p', snapshot), 'abc');
    assert.equal(partitionKeyOf({ type: 'identityNamespace', namespace: 'phone' }, 'p', snapshot), hashOf('p'));
  });

  it('attribute: the value as a string, else the hash', () => {
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'person.email' }, 'p', snapshot), 'a@x');
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'person.age' }, 'p', snapshot), '42');
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'person.name' }, 'p', snapshot), '{"first":"Ada"}');
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'person.empty' }, 'p', snapshot), hashOf('p'));
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'person.phone' }, 'p', snapshot), hashOf('p'));
  });

  it('truncates to 256 characters without splitting a surrogate pair', () => {
    const long: ProfileSnapshot = {
      identityMap: { ecid: [{ id: 'x'.repeat(300) }] },
      note: `${'y'.repeat(255)}😀tail`,
    };
    assert.equal(
      partitionKeyOf({ type: 'identityNamespace', namespace: 'ecid' }, 'p', long),
      'x'.repeat(MAX_PARTITION_KEY_LENGTH),
    );
    assert.equal(partitionKeyOf({ type: 'attribute', path: 'note' }, 'p', long), 'y'.repeat(255));
  });
});

describe('partitionKeyStrategySchema', () => {
  it('accepts the three strategies and rejects others', () => {
    assert.ok(partitionKeyStrategySchema.safeParse({ type: 'profileIdHash' }).success);
    assert.ok(partitionKeyStrategySchema.safeParse({ type: 'identityNamespace', namespace: 'ecid' }).success);
    assert.ok(partitionKeyStrategySchema.safeParse({ type: 'attribute', path: 'person.email' }).success);
    assert.ok(!partitionKeyStrategySchema.safeParse({ type: 'identityNamespace', namespace: '' }).success);
    assert.ok(!partitionKeyStrategySchema.safeParse({ type: 'attribute', path: 'person..email' }).success);
    assert.ok(!partitionKeyStrategySchema.safeParse({ type: 'random' }).success);
  });
});
