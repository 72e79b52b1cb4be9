import assert from 'node:assert/strict';
import { InFlightLimit } from '../../src/http/inFlightLimit';

describe('the bound on requests in progress', () => {
  it('admits up to its bound and frees a slot once the connection is done', () => {
    const limit = new InFlightLimit(2);
    const first = limit.tryAdmit();
    assert.ok(first && limit.tryAdmit());
    assert.equal(limit.tryAdmit(), undefined, 'past the bound');
    first.closed();
    first.closed();
    assert.equal(limit.inFlight, 1, 'closing twice frees one slot');
    assert.ok(limit.tryAdmit());
  });

  it('keeps the slot of a request whose client left until its work settled', async () => {
    const limit = new InFlightLimit(1);
    const admission = limit.tryAdmit();
    assert.ok(admission);
    let finish!: () => void;
    const work = admission.hold(new Promise<void>((resolve) => (finish = resolve)));
    admission.closed();
    assert.equal(limit.inFlight, 1, 'the store write goes on');
    finish();
    await work;
    assert.equal(limit.inFlight, 0);
    const failing = limit.tryAdmit();
    assert.ok(failing);
    await assert.rejects(failing.hold(Promise.reject(new Error('store down'))), /store down/);
    failing.closed();
    assert.equal(limit.inFlight, 0, 'a failed operation frees its slot too');
  });

  it('takes a positive whole bound only', () => {
    assert.throws(() => new InFlightLimit(0), /positive integer/);
    assert.throws(() => new InFlightLimit(1.5), /positive integer/);
  });
});
