import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DEPTH, parseProfileLine } from '../../src/domain/ndjson';

/** Splits raw input on LF the way the ingest reader does: bytes, not decoded text. */
function byteLines(input: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = input.indexOf(0x0a); i !== -1; i = input.indexOf(0x0a, start)) {
    lines.push(input.subarray(start, i));
    start = i + 1;
  }
  lines.push(input.subarray(start));
  return lines;
}

const validLine = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 20 }),
    email: fc.option(fc.string(), { nil: undefined }),
    status: fc.constantFrom('realized', 'existing', 'exited'),
  })
  .map(({ id, email, status }) =>
    JSON.stringify({
      identityMap: { ecid: [{ id }] },
      ...(email === undefined ? {} : { person: { email } }),
      segmentMembership: { ups: { s: { status, lastQualificationTime: '2020-05-25T21:24:39Z' } } },
    }),
  );

const nesting = fc
  .tuple(
    fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 20_000 })),
    fc.constantFrom('[', '{"a":'),
    fc.boolean(),
  )
  .map(([depth, open, closed]) => {
    const close = open === '[' ? ']' : '}';
    const body = `${open.repeat(depth)}${open === '[' ? '' : '1'}${closed ? close.repeat(depth) : ''}`;
    return { depth, closed, line: `{"identityMap":{"ecid":[{"id":"1"}]},"x":${body}}` };
  });
const deepLine = nesting.map(({ line }) => line);

const hostileLine = fc.oneof(
  validLine,
  deepLine,
  fc.json({ depthSize: 'large' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('{"identityMap":{"__proto__":[{"id":"1"}]}}', '{"identityMap":{"ecid":[{"id":"1"}]},"person":5}'),
);

/** Input bytes: lines joined by LF, with arbitrary bytes (invalid UTF-8 included) spliced in. */
const input = fc
  .tuple(
    fc.array(hostileLine, { maxLength: 12 }),
    fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { maxLength: 4 }),
  )
  .map(([lines, splices]) => {
    let bytes = Buffer.from(lines.join('\n'));
    for (const [at, chunk] of splices) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      bytes = Buffer.concat([bytes.subarray(0, i), chunk, bytes.subarray(i)]);
    }
    return bytes;
  });

describe('parseProfileLine (property)', () => {
  it('never throws, and every line is accepted, rejected (with its number) or blank', () => {
    fc.assert(
      fc.property(input, (bytes) => {
        const lines = byteLines(bytes);
        let accepted = 0;
        let rejected = 0;
        let blank = 0;
        lines.forEach((line, i) => {
          const result = parseProfileLine(line, i + 1);
          if (result.kind === 'accepted') accepted++;
          else if (result.kind === 'rejected') {
            assert.equal(result.rejected.line, i + 1);
            assert.ok(result.rejected.reason.length > 0 && !result.rejected.reason.includes('\n'));
            rejected++;
          } else blank++;
        });
        assert.equal(accepted + rejected + blank, lines.length);
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  it('accepts a nested line exactly when it is within the depth limit, and can serialize what it accepts', () => {
    fc.assert(
      fc.property(nesting, ({ depth, line, closed }) => {
        const result = parseProfileLine(line, 1);
        // The line's own object is one level; the nested value starts at the second.
        assert.equal(result.kind === 'accepted', closed && 1 + depth <= MAX_DEPTH, `depth ${depth}`);
        if (result.kind === 'accepted') JSON.stringify(result.accepted.snapshot);
      }),
      { seed: 17, numRuns: 200 },
    );
  });
});
