import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { byteLines } from '../../src/client/byteLines';
import { parseProfileLine } from '../../src/domain/ndjson';
import { GroupCommit } from '../../src/http/groupCommit';
import type { IngestOutcome } from '../../src/http/groupCommit';

function line(profileId: string): string {
  return JSON.stringify({ profileId, identityMap: { ecid: [{ id: profileId }] } });
}

/** Ingest as the client counts it (the real line reader and parser), recording each call's input; each call waits to be released. */
function recordingIngest() {
  const calls: string[] = [];
  const releases: ((failure?: Error) => void)[] = [];
  const ingest = async (input: Readable): Promise<IngestOutcome> => {
    const outcome: IngestOutcome = { accepted: 0, rejected: [], unannounced: null };
    let text = '';
    let n = 0;
    for await (const bytes of byteLines(input)) {
      text += `${bytes.toString()}\n`;
      const parsed = parseProfileLine(bytes, ++n);
      if (parsed.kind === 'accepted') outcome.accepted++;
      if (parsed.kind === 'rejected') outcome.rejected.push(parsed.rejected);
    }
    calls.push(text);
    await new Promise<void>((resolve, reject) => releases.push((failure) => (failure ? reject(failure) : resolve())));
    return outcome;
  };
  return {
    ingest,
    calls,
    /** Resolves once `n` calls were made. */
    async called(n: number): Promise<void> {
      while (calls.length < n) await new Promise((resolve) => setImmediate(resolve));
    },
    /** Lets the oldest call finish (or fail), once it was made. */
    async release(failure?: Error): Promise<void> {
      while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
      releases.shift()?.(failure);
    },
  };
}

describe('group commit of concurrent ingest requests', () => {
  it('writes a lone request at once, with the outcome of its call', async () => {
    const fake = recordingIngest();
    const groups = new GroupCommit(fake.ingest, 1024);
    const answer = groups.submit('replace', Buffer.from(`${line('a')}\n\u00a0\n`));
    await fake.release();
    assert.deepEqual(await answer, { accepted: 1, rejected: [], unannounced: null });
    assert.equal(fake.calls.length, 1);
  });

  it('writes the requests that arrived meanwhile in one call, each answered for its own lines', async () => {
    const fake = recordingIngest();
    const groups = new GroupCommit(fake.ingest, 1 << 20);
    const first = groups.submit('replace', Buffer.from(`${line('a')}\n`));
    // While the first write is in flight: no trailing newline, blank lines (a BOM, NBSP, CRLF), bad lines.
    const second = groups.submit('replace', Buffer.from(`${line('b')}\n\n{bad\n${line('c')}`));
    const third = groups.submit('replace', Buffer.from(`\uFEFF\r\n{"profileId": 1}\n\u00a0\r\n${line('d')}\r\n`));
    const empty = groups.submit('replace', Buffer.alloc(0));
    await fake.release();
    assert.deepEqual(await first, { accepted: 1, rejected: [], unannounced: null });
    await fake.release();
    const [b, c, d] = await Promise.all([second, third, empty]);
    assert.equal(fake.calls.length, 2, 'one call for the three that waited');
    assert.equal(b.accepted, 2);
    assert.deepEqual(
      b.rejected.map((r) => r.line),
      [3],
    );
    assert.equal(c.accepted, 1);
    assert.deepEqual(
      c.rejected.map((r) => r.line),
      [2],
    );
    assert.deepEqual(d, { accepted: 0, rejected: [], unannounced: null });
  });

  it('fails every request of a failed write, and writes the next group all the same', async () => {
    const fake = recordingIngest();
    const groups = new GroupCommit(fake.ingest, 1 << 20);
    const first = groups.submit('merge', Buffer.from(line('a')));
    const failing = [groups.submit('merge', Buffer.from(line('b'))), groups.submit('merge', Buffer.from(line('c')))];
    await fake.release();
    await first;
    await fake.called(2);
    const later = groups.submit('merge', Buffer.from(line('d')));
    await fake.release(new Error('store down'));
    for (const answer of failing) await assert.rejects(answer, /store down/);
    await fake.release();
    assert.equal((await later).accepted, 1);
    assert.equal(fake.calls.length, 3);
  });

  it('keeps a group within its byte bound, and takes one request whatever its size', async () => {
    const fake = recordingIngest();
    const one = Buffer.from(`${line('x')}\n`);
    const groups = new GroupCommit(fake.ingest, one.length * 2);
    const answers = [groups.submit('replace', Buffer.concat([one, one, one]))];
    for (let i = 0; i < 3; i++) answers.push(groups.submit('replace', one));
    for (let i = 0; i < 3; i++) await fake.release();
    await Promise.all(answers);
    assert.deepEqual(
      fake.calls.map((c) => c.split('\n').length - 1),
      [3, 2, 1],
    );
  });

  it('starts writes of a mode at least its spacing apart, gathering the requests of that time', async () => {
    const fake = recordingIngest();
    const groups = new GroupCommit(fake.ingest, 1 << 20, 200);
    const first = groups.submit('replace', Buffer.from(line('a')));
    const started = performance.now();
    await fake.release();
    await first;
    const later = [groups.submit('replace', Buffer.from(line('b'))), groups.submit('replace', Buffer.from(line('c')))];
    await fake.called(2);
    assert.ok(performance.now() - started >= 190, 'the next write waited for its spacing');
    await fake.release();
    await Promise.all(later);
    assert.equal(fake.calls.length, 2, 'one write for both');
  });

  it('starts a write before its spacing is up once 500 lines are waiting', async () => {
    const fake = recordingIngest();
    const groups = new GroupCommit(fake.ingest, 1 << 20, 60_000);
    const first = groups.submit('replace', Buffer.from(line('a')));
    await fake.release();
    await first;
    const full = groups.submit('replace', Buffer.from(Array.from({ length: 500 }, (_, i) => line(`f${i}`)).join('\n')));
    await fake.release();
    assert.equal((await full).accepted, 500);
  });
});
