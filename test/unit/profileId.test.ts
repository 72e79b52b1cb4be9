import assert from 'node:assert/strict';
import type { ProfileSnapshot } from '../../src/domain/profile';
import { identitiesIn, profileIdOf } from '../../src/domain/profileId';

describe('profileIdOf', () => {
  it('takes an explicit profileId as given', () => {
    const snapshot: ProfileSnapshot = { profileId: 'crm-42', identityMap: { ecid: [{ id: '1', primary: true }] } };
    assert.equal(profileIdOf(snapshot), 'crm-42');
  });

  it('else takes the identity marked primary, prefixed with its namespace', () => {
    const snapshot: ProfileSnapshot = {
      identityMap: { ecid: [{ id: '1' }], email: [{ id: 'a@x' }, { id: 'b@x', primary: true }] },
    };
    assert.equal(profileIdOf(snapshot), 'email:b@x');
  });

  it('ignores identities explicitly marked not primary', () => {
    const snapshot: ProfileSnapshot = { identityMap: { crm: [{ id: 'c', primary: false }], ecid: [{ id: '7' }] } };
    assert.equal(profileIdOf(snapshot), 'ecid:7');
  });

  it('else takes the first ECID, matching the namespace case-insensitively', () => {
    const snapshot: ProfileSnapshot = { identityMap: { aaa: [{ id: 'x' }], ECID: [{ id: '11' }, { id: '22' }] } };
    assert.equal(profileIdOf(snapshot), 'ecid:11');
  });

  it('else takes the first identity of the alphabetically first namespace, ignoring case', () => {
    const snapshot: ProfileSnapshot = {
      identityMap: { phone: [{ id: 'p' }], Email: [{ id: 'e1' }, { id: 'e2' }], crm: [{ id: 'c' }] },
    };
    assert.equal(profileIdOf(snapshot), 'crm:c');
    assert.equal(profileIdOf({ identityMap: { phone: [{ id: 'p' }], Email: [{ id: 'e1' }] } }), 'email:e1');
  });

  it('keeps equal ids of different namespaces apart', () => {
    const a = profileIdOf({ identityMap: { crm: [{ id: '123', primary: true }] } });
    const b = profileIdOf({ identityMap: { loyalty: [{ id: '123', primary: true }] } });
    assert.notEqual(a, b);
  });

  it('gives one id for both spellings of a namespace', () => {
    assert.equal(
      profileIdOf({ identityMap: { ECID: [{ id: '9' }] } }),
      profileIdOf({ identityMap: { ecid: [{ id: '9' }] } }),
    );
  });
});

describe('identitiesIn', () => {
  it('finds a namespace case-insensitively and returns undefined when absent', () => {
    const map = { Email: [{ id: 'e' }] };
    assert.deepStrictEqual(identitiesIn(map, 'email'), [{ id: 'e' }]);
    assert.equal(identitiesIn(map, 'ecid'), undefined);
    assert.equal(identitiesIn(map, 'constructor'), undefined);
  });
});
