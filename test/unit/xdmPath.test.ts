import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cloneJson, getXdmValue, jsonEqual, setXdmValue } from '../../src/domain/xdmPath';

describe('getXdmValue', () => {
  const snapshot = {
    identityMap: { ecid: [{ id: '1' }] },
    person: { email: 'a@x', name: { firstName: 'Ada' }, tags: ['x'], nothing: null, zero: 0 },
  };

  it('reads nested values, including whole objects and falsy values', () => {
    assert.equal(getXdmValue(snapshot, 'person.email'), 'a@x');
    assert.equal(getXdmValue(snapshot, 'person.name.firstName'), 'Ada');
    assert.deepStrictEqual(getXdmValue(snapshot, 'person.name'), { firstName: 'Ada' });
    assert.equal(getXdmValue(snapshot, 'person.zero'), 0);
    assert.equal(getXdmValue(snapshot, 'person.nothing'), null);
  });

  it('gives undefined for missing paths and for steps through non-objects', () => {
    assert.equal(getXdmValue(snapshot, 'person.phone'), undefined);
    assert.equal(getXdmValue(snapshot, 'personalEmail.address'), undefined);
    assert.equal(getXdmValue(snapshot, 'person.email.length'), undefined);
    assert.equal(getXdmValue(snapshot, 'person.tags.length'), undefined);
    assert.equal(getXdmValue(snapshot, 'person.nothing.x'), undefined);
  });

  it('never reads inherited properties', () => {
    assert.equal(getXdmValue(snapshot, 'constructor'), undefined);
    assert.equal(getXdmValue(snapshot, 'person.toString'), undefined);
    assert.equal(getXdmValue(snapshot, '__proto__'), undefined);
  });
});

describe('setXdmValue', () => {
  it('builds nested objects and keeps existing siblings', () => {
    const target: Record<string, unknown> = {};
    setXdmValue(target, 'person.email', 'a@x');
    setXdmValue(target, 'person.name.firstName', 'Ada');
    setXdmValue(target, 'personalEmail', { address: 'a@x' });
    assert.deepStrictEqual(target, {
      person: { email: 'a@x', name: { firstName: 'Ada' } },
      personalEmail: { address: 'a@x' },
    });
  });

  it('replaces a non-object step with an object', () => {
    const target: Record<string, unknown> = { person: 'legacy' };
    setXdmValue(target, 'person.email', 'a@x');
    assert.deepStrictEqual(target, { person: { email: 'a@x' } });
  });

  it('stores a copy, so later writes do not reach the source object', () => {
    const source = { email: 'a@x', name: { firstName: 'Ada' } };
    const target: Record<string, unknown> = {};
    setXdmValue(target, 'person', source);
    setXdmValue(target, 'person.name.firstName', 'Grace');
    assert.deepStrictEqual(source, { email: 'a@x', name: { firstName: 'Ada' } });
  });

  it('writes __proto__ as a plain key instead of changing the prototype', () => {
    const target: Record<string, unknown> = {};
    setXdmValue(target, '__proto__.polluted', true);
    assert.equal(Object.getPrototypeOf(target), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(JSON.stringify(target), '{"__proto__":{"polluted":true}}');
  });
});

describe('cloneJson and jsonEqual', () => {
  it('clones deeply', () => {
    const value = { a: [{ b: 1 }] };
    const copy = cloneJson(value);
    assert.deepStrictEqual(copy, value);
    assert.notEqual(copy.a[0], value.a[0]);
  });

  it('ignores object key order but not array order', () => {
    assert.ok(jsonEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }));
    assert.ok(!jsonEqual({ c: [1, 2] }, { c: [2, 1] }));
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!jsonEqual([1], { 0: 1 }));
    assert.ok(!jsonEqual(null, {}));
    assert.ok(jsonEqual(undefined, undefined));
  });

  it('takes a missing key for undefined, either way round, and own keys only', () => {
    assert.ok(jsonEqual({ a: 1, b: undefined }, { a: 1 }));
    assert.ok(jsonEqual({ a: 1 }, { a: 1, b: undefined }));
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: null }));
    assert.ok(!jsonEqual({}, { constructor: 1 }));
    assert.ok(!jsonEqual(JSON.parse('{"__proto__":1}'), {}));
  });

  it('agrees with comparing the values serialized with sorted keys', () => {
    const sorted = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(sorted)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(
              Object.keys(value)
                .sort()
                .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
            )
          : value;
    // Small values, so that equal pairs come up often enough.
    const json = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    const pair = fc.oneof(
      fc.tuple(json, json),
      json.map((v) => [v, JSON.parse(JSON.stringify(sorted(v))) as unknown] as const),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        assert.equal(jsonEqual(a, b), JSON.stringify(sorted(a)) === JSON.stringify(sorted(b)));
      }),
    );
  });
});
