import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { waitFor } from '../../src/embedded/waitFor';
import { readNewestRecords } from '../../src/kinesis/streamTip';
import { useKinesisFixture } from '../support/kinesisFixture';
import { createStream } from '../support/kinesisStream';

/** Hash keys of the two shards of a two-shard stream. */
const FIRST_SHARD = '0';
const SECOND_SHARD = (2n ** 127n).toString();

/** `peek` (issue 17, row 12): the newest records are read from the tip of each shard, not the whole stream. */
describe('the newest records of a stream (kinesalite)', function () {
  this.timeout(120_000);
  const fx = useKinesisFixture('stream-tip');
  let returned = 0;

  before(() => {
    // Counts what GetRecords hands back: the records a read had to take off the stream.
    fx.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'GetRecordsCommand')
          returned += ((result.output as { Records?: unknown[] }).Records ?? []).length;
        return result;
      },
      { step: 'initialize', name: 'countReturnedRecords' },
    );
  });

  /** `count` records named `prefix-i`, on the shard of `hashKey` (in order) or spread over both. */
  const put = async (stream: string, prefix: string, count: number, hashKey?: string): Promise<void> => {
    for (let from = 0; from < count; from += 500) {
      const Records = Array.from({ length: Math.min(500, count - from) }, (_, i) => ({
        PartitionKey: `k${from + i}`,
        ...(hashKey !== undefined ? { ExplicitHashKey: hashKey } : {}),
        Data: Buffer.from(JSON.stringify(`${prefix}-${from + i}`)),
      }));
      const out = await fx.kinesis.send(new PutRecordsCommand({ StreamName: stream, Records }));
      assert.equal(out.FailedRecordCount ?? 0, 0);
    }
  };

  /** 2,000 records, then the clock moves past a 1 s window (arrival times have second precision here). */
  const oldStream = async (): Promise<string> => {
    const stream = `tip-${randomUUID()}`;
    await createStream(fx.kinesis, stream, 2);
    await put(stream, 'old', 2000);
    const putAt = Date.now();
    await waitFor(() => Date.now() > putAt + 3500, { timeoutMs: 10_000, intervalMs: 50, what: 'the clock' });
    return stream;
  };
  const windowsMs = [1000, null];
  const names = (records: { data: string }[]): string[] => records.map((r) => JSON.parse(r.data) as string);

  it('reads only the window that holds the newest records, and widens it when the window holds too few', async () => {
    const stream = await oldStream();
    await put(stream, 'a', 2, FIRST_SHARD);
    await put(stream, 'b', 2, SECOND_SHARD);

    returned = 0;
    const newest = await readNewestRecords(fx.kinesis, stream, 2, { windowsMs });
    assert.equal(newest.length, 2);
    assert.ok(
      names(newest).every((n) => /^[ab]-/.test(n)),
      names(newest).join(),
    );
    assert.equal(returned, 4, 'only the records of the window came off the stream');

    returned = 0;
    const wider = await readNewestRecords(fx.kinesis, stream, 6, { windowsMs });
    assert.equal(wider.length, 6);
    assert.deepEqual(names(wider.slice(-4)).sort(), ['a-0', 'a-1', 'b-0', 'b-1']);
    assert.equal(returned, 4 + 2004, 'the window, then the whole stream');
  });

  it('answers when a shard has nothing in the window (an emulator that never answers such a request)', async () => {
    const stream = await oldStream();
    await put(stream, 'new', 3, FIRST_SHARD);
    const newest = await readNewestRecords(fx.kinesis, stream, 2, { windowsMs, timeoutMs: 20_000 });
    assert.deepEqual(names(newest), ['new-1', 'new-2']);
  });
});
