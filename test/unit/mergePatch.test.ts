import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMergePatch } from '../../src/domain/mergePatch';

describe('applyMergePatch (RFC 7396)', () => {
  // The test cases of RFC 7396, appendix A.
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, expected] of cases) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)} = ${JSON.stringify(expected)}`, () => {
      assert.deepStrictEqual(applyMergePatch(target, patch), expected);
    });
  }

  it('changes neither input and keeps __proto__ as data', () => {
    const target = { a: { b: 1 } };
    const patch = JSON.parse('{"a":{"c":2},"__proto__":{"polluted":true}}') as unknown;
    const result = applyMergePatch(target, patch) as Record<string, unknown>;
    assert.deepStrictEqual(target, { a: { b: 1 } });
    assert.ok(Object.hasOwn(result, '__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepStrictEqual(result.a, { b: 1, c: 2 });
  });

  it('a patch without nulls applied twice gives the same result as once (idempotent)', () => {
    const json = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('null'));
    fc.assert(
      fc.property(fc.jsonValue(), json, (target, patch) => {
        const once = applyMergePatch(target, patch);
        assert.deepStrictEqual(applyMergePatch(once, patch), once);
      }),
    );
  });
});
