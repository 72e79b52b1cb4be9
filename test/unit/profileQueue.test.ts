import assert from 'node:assert/strict';
import { ProfileQueue } from '../../src/kinesis/profileQueue';

interface Item {
  profile: string;
  version: number;
}

const item = (profile: string, version: number): Item => ({ profile, version });
const names = (items: readonly Item[]): string[] => items.map((i) => `${i.profile}${i.version}`);
const all = (): boolean => true;
const atMost = (n: number) => {
  let left = n;
  return (): boolean => left-- > 0;
};

describe('ProfileQueue', () => {
  let queue: ProfileQueue<Item>;
  beforeEach(() => {
    queue = new ProfileQueue<Item>((i) => i.profile);
  });

  it('hands items out in the order they were added, as many as accept takes', () => {
    const items = [item('a', 1), item('b', 1), item('c', 1)];
    for (const i of items) queue.add(i);
    assert.deepEqual(names(queue.take(atMost(2))), ['a1', 'b1']);
    // The refused candidate stays at the head.
    assert.deepEqual(names(queue.take(all)), ['c1']);
    assert.deepEqual(queue.take(all), []);
  });

  it('holds a later item of a profile until the earlier one completes, letting other profiles go around it', () => {
    const a1 = item('a', 1);
    const a2 = item('a', 2);
    const b1 = item('b', 1);
    const a3 = item('a', 3);
    for (const i of [a1, a2, b1, a3]) queue.add(i);
    assert.deepEqual(names(queue.take(all)), ['a1', 'b1']);
    queue.complete(b1);
    assert.deepEqual(queue.take(all), [], 'a2 waits for a1');
    queue.complete(a1);
    assert.deepEqual(names(queue.take(all)), ['a2']);
    queue.complete(a2);
    assert.deepEqual(names(queue.take(all)), ['a3']);
  });

  it('puts given-back items before later ones, and their profile stays busy meanwhile', () => {
    const a1 = item('a', 1);
    const b1 = item('b', 1);
    for (const i of [a1, b1]) queue.add(i);
    assert.deepEqual(names(queue.take(all)), ['a1', 'b1']);
    queue.add(item('a', 2));
    queue.add(item('c', 1));
    assert.deepEqual(names(queue.take(all)), ['c1'], 'a2 does not overtake a1 while a1 is out');
    queue.giveBack([b1, a1]);
    assert.deepEqual(names(queue.take(atMost(1))), ['a1'], 'the lowest position goes first');
    assert.deepEqual(names(queue.take(all)), ['b1']);
    queue.complete(a1);
    assert.deepEqual(names(queue.take(all)), ['a2']);
  });

  it('counts items added and not completed', () => {
    const a1 = item('a', 1);
    queue.add(a1);
    queue.add(item('b', 1));
    assert.equal(queue.outstanding, 2);
    queue.take(all);
    assert.equal(queue.outstanding, 2, 'taken is not done');
    queue.complete(a1);
    assert.equal(queue.outstanding, 1);
  });

  it('refuses to complete or give back an item it did not hand out', () => {
    const a1 = item('a', 1);
    queue.add(a1);
    assert.throws(() => queue.complete(a1), /not taken from this queue/);
    assert.throws(() => queue.giveBack([a1]), /not taken from this queue/);
    queue.take(all);
    queue.complete(a1);
    assert.throws(() => queue.complete(a1), /not taken from this queue/);
  });

  it('keeps every profile in order over many interleaved items, completing out of order', () => {
    const profiles = 7;
    const versions = 20;
    for (let v = 0; v < versions; v++) for (let p = 0; p < profiles; p++) queue.add(item(`p${p}`, v));
    const seen = new Map<string, number>();
    let rounds = 0;
    while (queue.outstanding > 0) {
      const batch = queue.take(atMost(3));
      for (const i of batch) {
        assert.equal(i.version, (seen.get(i.profile) ?? -1) + 1, `${i.profile} out of order`);
        seen.set(i.profile, i.version);
      }
      // Complete in reverse, and give one back now and then.
      for (const i of [...batch].reverse()) {
        if (i.version % 5 === 0 && rounds % 2 === 0) {
          queue.giveBack([i]);
          seen.set(i.profile, i.version - 1);
        } else queue.complete(i);
      }
      rounds++;
      assert.ok(rounds < 10_000, 'the queue stopped handing items out');
    }
    assert.deepEqual(
      [...seen.values()],
      Array.from({ length: profiles }, () => versions - 1),
    );
  });
});
