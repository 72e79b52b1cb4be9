import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseProfileLine, parseProfileLines } from '../../src/domain/ndjson';
import { formatZodError } from '../../src/domain/validationError';

const valid = (id: string): string =>
  JSON.stringify({
    identityMap: { ecid: [{ id }] },
    person: { email: `${id}@x` },
    segmentMembership: { ups: { s1: { status: 'realized', lastQualificationTime: '2020-05-25T21:24:39Z' } } },
  });

describe('parseProfileLines', () => {
  it('accepts valid lines with 1-based line numbers and profile ids, ignoring blank lines', () => {
    const { accepted, rejected } = parseProfileLines(`${valid('1')}\n\n   \n${valid('2')}\n`);
    assert.deepStrictEqual(rejected, []);
    assert.deepStrictEqual(
      accepted.map((a) => [a.line, a.profileId]),
      [
        [1, 'ecid:1'],
        [4, 'ecid:2'],
      ],
    );
    assert.deepStrictEqual(accepted[0]?.snapshot.person, { email: '1@x' });
  });

  it('handles CRLF line ends and a byte-order mark', () => {
    const { accepted, rejected } = parseProfileLines(`\uFEFF${valid('1')}\r\n${valid('2')}\r\n`);
    assert.deepStrictEqual(rejected, []);
    assert.deepStrictEqual(
      accepted.map((a) => a.line),
      [1, 2],
    );
  });

  it('rejects bad lines with their number and reason and still takes the valid ones', () => {
    const text = [
      valid('1'),
      '{"identityMap": ',
      JSON.stringify({ identityMap: { ecid: [{ id: '' }] } }),
      valid('4'),
      '[1, 2]',
    ].join('\n');
    const { accepted, rejected } = parseProfileLines(text);
    assert.deepStrictEqual(
      accepted.map((a) => a.line),
      [1, 4],
    );
    assert.equal(rejected.length, 3);
    assert.equal(rejected[0]?.line, 2);
    assert.match(rejected[0]?.reason ?? '', /^invalid JSON: \S/);
    assert.deepStrictEqual(rejected[1], { line: 3, reason: 'identityMap.ecid.0.id: must not be empty' });
    assert.deepStrictEqual(rejected[2], { line: 5, reason: 'expected object, received array' });
  });
});

describe('parseProfileLine', () => {
  const reasonOf = (value: unknown): string => {
    const result = parseProfileLine(JSON.stringify(value), 7);
    assert.equal(result.kind, 'rejected');
    return result.rejected.reason;
  };

  it('reports blank lines as blank', () => {
    assert.deepStrictEqual(parseProfileLine('  \t', 3), { kind: 'blank' });
  });

  it('keeps an explicit profileId', () => {
    const result = parseProfileLine(JSON.stringify({ profileId: 'p-1', identityMap: { ecid: [{ id: '1' }] } }), 1);
    assert.equal(result.kind, 'accepted');
    assert.equal(result.accepted.profileId, 'p-1');
  });

  it('gives one-line reasons naming the field path', () => {
    assert.equal(reasonOf({}), 'identityMap: is required');
    assert.equal(reasonOf({ identityMap: {} }), 'identityMap: must contain at least one namespace');
    assert.equal(reasonOf({ identityMap: { ecid: [] } }), 'identityMap.ecid: must not be empty');
    assert.equal(
      reasonOf({ identityMap: { ecid: [{ id: 5 }] } }),
      'identityMap.ecid.0.id: expected string, received number',
    );
    assert.equal(reasonOf({ identityMap: { '': [{ id: '1' }] } }), 'identityMap."": key must not be empty');
    assert.equal(
      reasonOf({
        identityMap: { ecid: [{ id: '1' }] },
        segmentMembership: { ups: { 'seg-1': { status: 'gone', lastQualificationTime: 'yesterday' } } },
      }),
      'segmentMembership.ups.seg-1.status: must be one of "realized", "existing", "exited"; ' +
        'segmentMembership.ups.seg-1.lastQualificationTime: must be an ISO-8601 date-time such as 2020-05-25T21:24:39Z',
    );
    assert.equal(
      reasonOf({ profileId: 'x'.repeat(1025), identityMap: { ecid: [{ id: '1' }] } }),
      'profileId: must have at most 1024 characters',
    );
  });
});

describe('formatZodError', () => {
  const reasonFor = (schema: z.ZodType, value: unknown): string => {
    const result = schema.safeParse(value);
    assert.ok(!result.success);
    return formatZodError(result.error);
  };

  it('formats every issue as path: message on one line, keeping messages written on the schema', () => {
    const schema = z.object({ a: z.string().min(2, 'needs two\ncharacters'), b: z.number().int() });
    assert.equal(reasonFor(schema, { a: 'x', b: 1.5 }), 'a: needs two characters; b: expected int, received number');
  });

  it('shortens zod built-in messages', () => {
    const schema = z.object({ n: z.number().gt(0), tags: z.array(z.string()).max(1), mode: z.literal('x') });
    assert.equal(
      reasonFor(schema, { n: 0, tags: ['a', 'b'], mode: 'x' }),
      'n: must be > 0; tags: must have at most 1 items',
    );
    assert.equal(reasonFor(schema, { n: 1, tags: [] }), 'mode: must be one of "x"');
    assert.equal(reasonFor(z.email(), 'nope'), 'must be a valid email');
  });

  it('quotes keys that would be ambiguous in a dotted path', () => {
    const schema = z.object({ ups: z.record(z.string(), z.object({ status: z.string() })) });
    assert.equal(reasonFor(schema, { ups: { 'a.b': {} } }), 'ups."a.b".status: is required');
  });
});
