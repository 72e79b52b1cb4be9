import assert from 'node:assert/strict';
import { destinationSettingsSchema } from '../../src/domain/destination';
import { IDLE_CONNECTION_MS, KinesisConnections } from '../../src/kinesis/connections';
import { FakeClock } from '../support/fakeClock';

/** No call is made: the clients are only created, kept and closed. */
const settings = destinationSettingsSchema.parse({
  name: 'n',
  region: 'us-east-1',
  stream: 's',
  endpoint: 'http://127.0.0.1:9',
});

describe('KinesisConnections', () => {
  let clock: FakeClock;
  let connections: KinesisConnections;

  beforeEach(() => {
    clock = new FakeClock();
    connections = new KinesisConnections({}, undefined, clock);
  });

  afterEach(() => connections.close());

  it("keeps a destination's writer from one page to the next", async () => {
    const first = connections.forDestination('a', settings);
    await clock.advance(IDLE_CONNECTION_MS * 2);
    assert.equal(connections.forDestination('a', settings), first);
  });

  it('closes a connection no page asked for in IDLE_CONNECTION_MS once another destination connects', async () => {
    const idle = connections.forDestination('a', settings);
    const recent = connections.forDestination('b', settings);
    await clock.advance(IDLE_CONNECTION_MS - 1);
    connections.forDestination('b', settings);
    assert.equal(connections.forDestination('a', settings), idle, 'not yet idle for long enough');

    await clock.advance(IDLE_CONNECTION_MS);
    connections.forDestination('b', settings);
    assert.notEqual(connections.forDestination('a', settings), idle, 'closed, so a fresh writer');
    assert.equal(connections.forDestination('b', settings), recent);
  });

  it('counts a permission check with the current client as use', async () => {
    const writer = connections.forDestination('a', settings);
    await clock.advance(IDLE_CONNECTION_MS * 2);
    await connections.withClient('a', settings, () => Promise.resolve());
    connections.forDestination('b', settings);
    assert.equal(connections.forDestination('a', settings), writer);
  });

  it('keeps a connection whose write is still open, however long ago it was asked for', async () => {
    const writer = connections.forDestination('a', settings);
    const session = writer.open(() => Promise.resolve());
    assert.equal(writer.idle, false);
    await clock.advance(IDLE_CONNECTION_MS * 2);
    connections.forDestination('b', settings);
    assert.equal(connections.forDestination('a', settings), writer);

    await session.end();
    assert.equal(writer.idle, true);
    await clock.advance(IDLE_CONNECTION_MS * 2);
    connections.forDestination('b', settings);
    assert.notEqual(connections.forDestination('a', settings), writer);
  });
});
