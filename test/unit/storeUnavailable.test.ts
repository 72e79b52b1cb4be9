import assert from 'node:assert/strict';
import { isPostgresConnectionLoss, StoreUnavailableError } from '../../src/store/storeUnavailable';

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('PostgreSQL connection loss', () => {
  it('is a refused or cut socket, a server shutting down or starting, or a connection node-postgres gave up', () => {
    for (const err of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('timeout exceeded when trying to connect'),
    ])
      assert.equal(isPostgresConnectionLoss(err), true, err.message);
  });

  it('is not an error of the statement or its data: those are not tried again', () => {
    for (const err of [
      withCode('duplicate key value violates unique constraint "profiles_pkey"', '23505'),
      withCode('syntax error at or near "SELEC"', '42601'),
      withCode('canceling statement due to statement timeout', '57014'),
      new Error('something else'),
      'ECONNREFUSED',
    ])
      assert.equal(isPostgresConnectionLoss(err), false, String(err));
  });

  it('is reported in one line naming the store, with the code where the cause has no message', () => {
    assert.equal(
      new StoreUnavailableError('PostgreSQL at db:5432/app', withCode('connect ECONNREFUSED\n  10.0.0.1:5432', 'X'))
        .message,
      'the store is unreachable (PostgreSQL at db:5432/app): connect ECONNREFUSED 10.0.0.1:5432',
    );
    // A name with several addresses fails with an AggregateError whose message is empty.
    const aggregate = Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' });
    assert.equal(
      new StoreUnavailableError('PostgreSQL at localhost:5432/app', aggregate).message,
      'the store is unreachable (PostgreSQL at localhost:5432/app): ECONNREFUSED',
    );
  });
});
