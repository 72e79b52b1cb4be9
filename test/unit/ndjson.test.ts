import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  isBlankLine,
  MAX_DEPTH,
  MAX_LINE_BYTES,
  parseJsonLine,
  parseProfileLine,
  parseProfileLines,
} from '../../src/domain/ndjson';
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

describe('parseProfileLine limits (one line never sinks the others)', () => {
  const reasonOfLine = (line: Buffer | string): string => {
    const result = parseProfileLine(line, 9);
    assert.equal(result.kind, 'rejected', `expected a rejection of ${String(line).slice(0, 80)}`);
    assert.equal(result.rejected.line, 9);
    return result.rejected.reason;
  };
  const accepted = (line: Buffer | string) => {
    const result = parseProfileLine(line, 1);
    assert.equal(result.kind, 'accepted', result.kind === 'rejected' ? result.rejected.reason : 'blank');
    return result.accepted;
  };

  it('takes raw byte lines, and refuses invalid UTF-8 instead of turning it into U+FFFD', () => {
    assert.equal(accepted(Buffer.from(valid('é'))).profileId, 'ecid:é');
    const bad = Buffer.from(valid('caf?'));
    bad[bad.indexOf('?')] = 0xe9;
    assert.equal(reasonOfLine(bad), 'is not valid UTF-8 (save the file as UTF-8)');
    assert.equal(accepted(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${valid('1')}\r`)])).line, 1);
  });

  it('refuses a line over the size limit without parsing it', () => {
    const big = JSON.stringify({ identityMap: { ecid: [{ id: '1' }] }, blob: 'x'.repeat(MAX_LINE_BYTES) });
    assert.match(reasonOfLine(big), new RegExp(`^line is ${Buffer.byteLength(big)} bytes: at most ${MAX_LINE_BYTES}`));
    assert.match(reasonOfLine(Buffer.from(big)), /^line is \d+ bytes/);
  });

  it('refuses nesting deeper than the limit, however deep, without overflowing the stack', () => {
    const nested = (levels: number): string =>
      `{"identityMap":{"ecid":[{"id":"1"}]},"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    assert.equal(accepted(nested(MAX_DEPTH)).profileId, 'ecid:1');
    assert.match(reasonOfLine(nested(MAX_DEPTH + 1)), /^nested too deeply: more than 32 levels/);
    assert.match(
      reasonOfLine(`{"profileId":"d","a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`),
      /^nested too deeply/,
    );
  });

  it('refuses reserved keys at any depth, and reserved ids', () => {
    const ups = '{"status":"realized","lastQualificationTime":"2020-05-25T21:24:39Z"}';
    assert.equal(
      reasonOfLine(`{"identityMap":{"ecid":[{"id":"1"}]},"segmentMembership":{"ups":{"__proto__":${ups}}}}`),
      'segmentMembership.ups.__proto__: key is reserved (__proto__, constructor and prototype are refused as keys and ids)',
    );
    assert.match(reasonOfLine('{"identityMap":{"__proto__":[{"id":"1"}]}}'), /^identityMap.__proto__: key is reserved/);
    assert.match(
      reasonOfLine('{"identityMap":{"ecid":[{"id":"1"}]},"person":{"x":[{"constructor":1}]}}'),
      /^person.x.0.constructor: key is reserved/,
    );
    assert.match(reasonOfLine('{"identityMap":{"ecid":[{"id":"1"}]},"prototype":{}}'), /^prototype: key is reserved/);
    assert.match(
      reasonOfLine('{"profileId":"__proto__","identityMap":{"ecid":[{"id":"1"}]}}'),
      /^profileId: is reserved/,
    );
  });

  it('refuses attribute values whose type contradicts the XDM field groups', () => {
    const withAttrs = (attrs: object): string => JSON.stringify({ identityMap: { ecid: [{ id: '1' }] }, ...attrs });
    assert.equal(reasonOfLine(withAttrs({ person: 5 })), 'person: expected object, received number');
    assert.equal(reasonOfLine(withAttrs({ person: { email: 42 } })), 'person.email: expected string, received number');
    assert.equal(
      reasonOfLine(withAttrs({ person: { name: { firstName: ['A'] } } })),
      'person.name.firstName: expected string, received array',
    );
    assert.equal(
      reasonOfLine(withAttrs({ personalEmail: { address: true } })),
      'personalEmail.address: expected string, received boolean',
    );
    // null is XDM's unset; other fields and other attribute objects pass as they are.
    const kept = accepted(withAttrs({ person: { email: null, loyaltyTier: 3 }, loyalty: { points: 5 } }));
    assert.deepStrictEqual(kept.snapshot.person, { email: null, loyaltyTier: 3 });
    assert.deepStrictEqual(kept.snapshot.loyalty, { points: 5 });
  });

  it('normalises lastQualificationTime to UTC seconds, as in the seed', () => {
    const line = JSON.stringify({
      identityMap: { ecid: [{ id: '1' }] },
      segmentMembership: {
        ups: {
          a: { status: 'realized', lastQualificationTime: '2020-05-25T23:24:39.123456789+02:00' },
          b: { status: 'exited', lastQualificationTime: '2020-05-25T21:24:39Z' },
        },
      },
    });
    const ups = accepted(line).snapshot.segmentMembership?.ups;
    assert.equal(ups?.a?.lastQualificationTime, '2020-05-25T21:24:39Z');
    assert.equal(ups?.b?.lastQualificationTime, '2020-05-25T21:24:39Z');
  });

  it('refuses more identities than a profile can have', () => {
    const ids = Array.from({ length: 101 }, (_, i) => ({ id: String(i) }));
    assert.equal(
      reasonOfLine(JSON.stringify({ identityMap: { ecid: ids } })),
      'identityMap: must hold at most 100 identities',
    );
  });
});

describe('isBlankLine', () => {
  it('answers as the line parser decides, without parsing', () => {
    const lines = [
      '',
      '   ',
      '\r',
      '\uFEFF',
      '\uFEFF \t\r',
      '\u00A0',
      '\u2028',
      '{}',
      ' {}',
      '\uFEFF{"a":1}',
      'x',
      '\u00A0x',
    ].map((text) => Buffer.from(text, 'utf8'));
    lines.push(Buffer.from([0xff, 0x20]), Buffer.alloc(MAX_LINE_BYTES + 1, 0x20));
    const blank = lines.map(isBlankLine);
    assert.deepEqual(
      blank,
      lines.map((line) => parseJsonLine(line).kind === 'blank'),
    );
    assert.deepEqual(blank, [
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
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
