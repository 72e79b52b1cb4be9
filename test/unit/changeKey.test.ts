import assert from 'node:assert/strict';
import { changeKeyOf, changeKeySpecOf } from '../../src/domain/changeKey';
import type { ProfileSnapshot } from '../../src/domain/profile';

const at = (status: 'realized' | 'existing' | 'exited', time = '2024-01-01T00:00:00Z') => ({
  status,
  lastQualificationTime: time,
});
const base: ProfileSnapshot = {
  identityMap: { ecid: [{ id: '111', primary: true }] },
  person: { email: 'a@x', name: { first: 'Ada', last: 'Lee' } },
  loyalty: { tier: 'gold' },
  // A computed key makes `__proto__` an own property, as JSON.parse does.
  segmentMembership: { ups: { mapped: at('realized'), unmapped: at('realized'), ['__proto__']: at('realized') } },
};
const spec = changeKeySpecOf({
  segments: [{ id: 'mapped' }, { id: '__proto__' }, { id: 'constructor' }],
  attributes: ['person.email', 'person.name.first'],
});
const keyOf = (change: (s: ProfileSnapshot) => void): string => {
  const snapshot = JSON.parse(JSON.stringify(base)) as ProfileSnapshot;
  change(snapshot);
  return changeKeyOf(spec, snapshot);
};
// Typed as plain strings, so TypeScript does not take them for Object.prototype's members.
const PROTO: string = '__proto__';
const CONSTRUCTOR: string = 'constructor';
const ups = (s: ProfileSnapshot) => (s.segmentMembership as NonNullable<ProfileSnapshot['segmentMembership']>).ups;
const person = (s: ProfileSnapshot) => s.person as { email?: unknown; name: Record<string, unknown> };

describe('changeKeyOf', () => {
  const key = changeKeyOf(spec, base);

  it('is a short, stable digest', () => {
    assert.match(key, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(changeKeyOf(spec, JSON.parse(JSON.stringify(base)) as ProfileSnapshot), key);
  });

  it('stays the same when nothing the diff looks at changes', () => {
    const same: [string, (s: ProfileSnapshot) => void][] = [
      ['unmapped attribute', (s) => (person(s).name.last = 'Other')],
      ['unmapped object', (s) => (s.loyalty = { tier: 'silver' })],
      ['unmapped segment', (s) => (ups(s).unmapped = at('exited'))],
      ['qualification time', (s) => (ups(s).mapped = at('realized', '2025-01-01T00:00:00Z'))],
      ['realized to existing', (s) => (ups(s).mapped = at('existing'))],
      ['mapped attribute set to null (unset, as absent)', (s) => (person(s).email = null)],
    ];
    const withoutEmail = keyOf((s) => delete person(s).email);
    for (const [name, change] of same) assert.equal(keyOf(change), name.includes('null') ? withoutEmail : key, name);
  });

  it('changes with each mapped membership, identity and attribute, own properties only', () => {
    const changed: [string, (s: ProfileSnapshot) => void][] = [
      ['exit', (s) => (ups(s).mapped = at('exited'))],
      ['segment named __proto__ left', (s) => delete ups(s)[PROTO]],
      ['segment named constructor entered', (s) => (ups(s)[CONSTRUCTOR] = at('realized'))],
      ['no membership at all', (s) => delete s.segmentMembership],
      ['identity', (s) => (s.identityMap = { ecid: [{ id: '222', primary: true }] })],
      ['identity flag', (s) => (s.identityMap = { ecid: [{ id: '111' }] })],
      ['email', (s) => (person(s).email = 'b@x')],
      ['nested mapped attribute', (s) => (person(s).name.first = 'Bo')],
      ['mapped attribute removed', (s) => delete person(s).email],
    ];
    const keys = changed.map(([name, change]) => [name, keyOf(change)]);
    for (const [name, k] of keys) assert.notEqual(k, key, name);
    assert.equal(new Set(keys.map(([, k]) => k)).size, changed.length, 'every change gives its own key');
  });

  it('differs between mappings for the same snapshot', () => {
    const other = changeKeySpecOf({
      segments: [{ id: 'mapped' }, { id: '__proto__' }, { id: 'constructor' }],
      attributes: ['person.email'],
    });
    assert.notEqual(other.id, spec.id);
    assert.notEqual(changeKeyOf(other, base), key);
    assert.equal(
      changeKeySpecOf({
        segments: [{ id: 'mapped', name: 'Renamed' }, { id: '__proto__' }, { id: 'constructor' }],
        attributes: spec.attributes.slice(),
      }).id,
      spec.id,
      'names are not part of the key',
    );
  });

  it('differs under another identity-namespace filter, and not with other triggers', () => {
    const mapping = {
      segments: [{ id: 'mapped' }, { id: '__proto__' }, { id: 'constructor' }],
      attributes: spec.attributes.slice(),
    };
    const filtered = changeKeySpecOf({ ...mapping, identityNamespaces: { mode: 'exclude', namespaces: ['phone'] } });
    assert.notEqual(filtered.id, spec.id, 'the exported identities depend on the filter');
    assert.notEqual(changeKeyOf(filtered, base), key);
    // A trigger that is off leaves the ledger as it was: the key need not tell them apart.
    assert.equal(changeKeySpecOf({ ...mapping, triggers: ['segmentation'] }).id, spec.id);
  });

  it('under a consent rule, differs in id and with the consent value alone', () => {
    const mapping = { segments: [{ id: 'mapped' }], attributes: ['person.email'] };
    const plain = changeKeySpecOf(mapping);
    const ruled = changeKeySpecOf(mapping, { path: 'consents.share.val', allowed: ['y'] });
    assert.notEqual(ruled.id, plain.id, 'a key from before the rule must not match');
    const withConsent = (val: string): ProfileSnapshot => ({ ...base, consents: { share: { val } } });
    assert.notEqual(changeKeyOf(ruled, withConsent('y')), changeKeyOf(ruled, withConsent('n')));
    assert.equal(changeKeyOf(plain, withConsent('y')), changeKeyOf(plain, withConsent('n')));
  });
});
