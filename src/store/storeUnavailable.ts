import { oneLine } from '../domain/oneLine';

/**
 * The store could not be reached for longer than its store waits (a PostgreSQL server down or
 * restarting, a broken network). The message names the store and the last cause in one line.
 * Nothing of the failed operation was kept (it ran in one statement or one transaction): it
 * can be repeated once the store is back.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';

  constructor(store: string, cause: unknown) {
    super(`the store is unreachable (${store}): ${causeText(cause)}`, { cause });
  }
}

/** The cause in one line; a refused connection to a name with several addresses has only a code. */
function causeText(cause: unknown): string {
  if (!(cause instanceof Error)) return oneLine(String(cause));
  const code = (cause as { code?: unknown }).code;
  return oneLine(cause.message) || (typeof code === 'string' ? code : cause.name);
}

/** Node socket errors of a connection that could not be made or was cut. */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL's SQLSTATEs of a lost connection: class 08 (connection exception), and 57P01-57P03
 * (the server shuts down, crashed, or is starting up and not yet accepting connections).
 */
const LOST_CONNECTION_STATES = /^(08\d{3}|57P0[123])$/;

/**
 * Messages node-postgres gives a connection cut under a query, or one the pool hands out
 * already broken; they carry no code.
 */
const LOST_CONNECTION_MESSAGES =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/i;

/** Whether `err` says the PostgreSQL connection was lost or could not be made (so trying again may work). */
export function isPostgresConnectionLoss(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || LOST_CONNECTION_STATES.test(code))) return true;
  return LOST_CONNECTION_MESSAGES.test(err.message);
}
