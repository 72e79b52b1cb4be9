import assert from 'node:assert/strict';
import type { ZodType } from 'zod';
import { reexportRequestSchema, scheduleCronSchema, scheduleEverySchema } from '../../src/domain/reexport';
import { formatZodError } from '../../src/domain/validationError';

function error(schema: ZodType, value: unknown): string | null {
  const parsed = schema.safeParse(value);
  return parsed.success ? null : formatZodError(parsed.error);
}

describe('re-export schedule and request input', () => {
  it('takes intervals of whole seconds, minutes, hours or days', () => {
    for (const ok of ['1s', '30s', '15m', '6h', '1d', '90m']) assert.equal(error(scheduleEverySchema, ok), null, ok);
    for (const bad of ['', '0s', '5x', '1.5h', '6 h', 'h', '-1h', '10', '1w', '1234567h']) {
      assert.equal(error(scheduleEverySchema, bad), 'must be a duration such as 30s, 15m, 6h or 1d', bad);
    }
  });

  it('takes cron expressions of 5 to 7 fields and the @ shorthands', () => {
    for (const ok of ['0 3 * * *', '*/15 * * * MON-FRI', '0 0 3 * * * 2030', ' @daily ', '@hourly']) {
      assert.equal(error(scheduleCronSchema, ok), null, ok);
    }
    for (const bad of ['', '* *', '* * * *', '@every 5m', '@sometimes', '1 2 3 4 5 6 7 8']) {
      assert.match(error(scheduleCronSchema, bad) ?? '', /^must be a cron expression of 5 fields/, bad);
    }
  });

  it('takes only a boolean force in a re-export request', () => {
    assert.deepEqual(reexportRequestSchema.parse({}), {});
    assert.deepEqual(reexportRequestSchema.parse({ force: true }), { force: true });
    assert.equal(error(reexportRequestSchema, { force: 'yes' }), 'force: expected boolean, received string');
    assert.equal(error(reexportRequestSchema, { force: true, segments: ['x'] }), 'segments: is not a known field');
  });
});
