import assert from 'node:assert/strict';
import { InFlightLimit, bodyBytesOf } from '../../src/http/inFlightLimit';
import type { Admission } from '../../src/http/inFlightLimit';

function admitted(limit: InFlightLimit, bodyBytes = 0): Admission {
  const admission = limit.tryAdmit(bodyBytes);
  if (typeof admission === 'string') assert.fail(`admitted, not refused: ${admission}`);
  return admission;
}

describe('the bound on requests in progress', () => {
  it('admits up to its bound and frees a slot once the connection is done', () => {
    const limit = new InFlightLimit(2, 1024);
    const first = admitted(limit);
    admitted(limit);
    assert.equal(limit.tryAdmit(), '2 requests in progress', 'past the bound');
    first.closed();
    first.closed();
    assert.equal(limit.inFlight, 1, 'closing twice frees one slot');
    admitted(limit);
  });

  it('admits body bytes up to its byte bound, whatever the count, and frees them with the slot', () => {
    const limit = new InFlightLimit(100, 100);
    const first = admitted(limit, 40);
    admitted(limit, 40);
    assert.equal(limit.tryAdmit(30), '80 bytes of request bodies in progress (bound 100)');
    admitted(limit, 20);
    assert.equal(limit.bytesInFlight, 100);
    first.closed();
    first.closed();
    assert.equal(limit.bytesInFlight, 60, 'closing twice frees its bytes once');
    admitted(limit, 30);
    for (let i = 0; i < 50; i++) admitted(limit, 0);
    assert.equal(limit.inFlight, 53, 'requests without a body pass the byte bound');
  });

  it('admits a request larger than the byte bound when it is alone', () => {
    const limit = new InFlightLimit(4, 100);
    const alone = admitted(limit, 500);
    assert.equal(limit.tryAdmit(1), '500 bytes of request bodies in progress (bound 100)');
    alone.closed();
    assert.equal(limit.bytesInFlight, 0);
    admitted(limit, 1);
  });

  it('keeps the slot of a request whose client left until its work settled', async () => {
    const limit = new InFlightLimit(1, 1024);
    const admission = admitted(limit, 10);
    let finish!: () => void;
    const work = admission.hold(new Promise<void>((resolve) => (finish = resolve)));
    admission.closed();
    assert.equal(limit.inFlight, 1, 'the store write goes on');
    assert.equal(limit.bytesInFlight, 10);
    finish();
    await work;
    assert.equal(limit.inFlight, 0);
    assert.equal(limit.bytesInFlight, 0);
    const failing = admitted(limit);
    await assert.rejects(failing.hold(Promise.reject(new Error('store down'))), /store down/);
    failing.closed();
    assert.equal(limit.inFlight, 0, 'a failed operation frees its slot too');
  });

  it('takes positive whole bounds only', () => {
    assert.throws(() => new InFlightLimit(0, 1), /request bound must be a positive integer/);
    assert.throws(() => new InFlightLimit(1.5, 1), /request bound must be a positive integer/);
    assert.throws(() => new InFlightLimit(1, 0), /byte bound must be a positive integer/);
  });
});

describe('the body bytes a request may bring', () => {
  it('is its declared length, the limit when sent chunked or declared past it, and 0 without a body', () => {
    assert.equal(bodyBytesOf({ 'content-length': '600' }, 1000), 600);
    assert.equal(bodyBytesOf({ 'content-length': '0' }, 1000), 0);
    assert.equal(bodyBytesOf({ 'content-length': '5000' }, 1000), 1000);
    assert.equal(bodyBytesOf({ 'transfer-encoding': 'chunked' }, 1000), 1000);
    assert.equal(bodyBytesOf({}, 1000), 0);
  });
});
