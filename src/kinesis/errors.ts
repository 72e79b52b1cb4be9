/**
 * Error classification for Kinesis calls, kept apart from the writer so it can be tested alone
 * and reused by the permission check.
 */

/**
 * Errors no retry can fix: the destination must stop with a clear message. Credentials that the
 * service does not recognise or whose signature is wrong are configuration errors too.
 * `ExpiredTokenException` is deliberately NOT here: temporary credentials (AssumeRole) are
 * refreshed by the SDK's provider or the next activity attempt, so retrying does fix it.
 */
const TERMINAL_CODES: ReadonlySet<string> = new Set([
  'AccessDeniedException',
  'ResourceNotFoundException',
  'InvalidArgumentException',
  'ValidationException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
  'KMSInvalidStateException',
  'KMSOptInRequired',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
]);

/** Throttling of the whole call: retried, and a signal to slow down. */
const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/** Retried, without being a throttling signal. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ExpiredTokenException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Node socket errors: the request may or may not have reached the service. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The code of an answer that is HTTP but not from Kinesis (a web server's 404, a login page). */
export const NOT_KINESIS_CODE = 'NotKinesisEndpoint';
/** Names the SDK gives errors it could not read an AWS error code from. */
const UNREADABLE_ANSWER_NAMES: ReadonlySet<string> = new Set(['SyntaxError', 'Unknown', 'UnknownError']);

export interface ClassifiedError {
  kind: 'terminal' | 'retryable';
  /** The AWS error code, Node error code or error name. */
  code: string;
  /** True when the service asked us to slow down. */
  throttled: boolean;
  message: string;
}

/** Raised when Kinesis refuses a call in a way no retry fixes; the destination must stop. */
export class KinesisTerminalError extends Error {
  override readonly name = 'KinesisTerminalError';

  constructor(
    readonly code: string,
    readonly operation: string,
    awsMessage: string,
  ) {
    super(`${code} on ${operation}: ${oneLine(awsMessage) || 'no message'}`);
  }
}

/** Classifies an error thrown by a Kinesis SDK call. */
export function classifyError(error: unknown): ClassifiedError {
  const fields = errorFields(error);
  const code = fields.name ?? fields.code ?? 'UnknownError';
  const message = fields.message ?? String(error);
  const retryable = (throttled: boolean): ClassifiedError => ({ kind: 'retryable', code, throttled, message });

  if (fields.name !== undefined && TERMINAL_CODES.has(fields.name))
    return { kind: 'terminal', code, throttled: false, message };
  if (fields.name !== undefined && THROTTLING_CODES.has(fields.name)) return retryable(true);
  if (fields.name !== undefined && TRANSIENT_CODES.has(fields.name)) return retryable(false);
  if (fields.code !== undefined && NETWORK_CODES.has(fields.code)) return { ...retryable(false), code: fields.code };
  if (/socket hang up/i.test(message)) return { ...retryable(false), code: 'ECONNRESET' };

  const status = fields.status;
  if (status === 429) return retryable(true);
  if (status !== undefined && (status >= 500 || status === 408)) return retryable(false);
  // Kinesis names every error it answers; an answer without a readable name came from elsewhere.
  if (status !== undefined && fields.name !== undefined && UNREADABLE_ANSWER_NAMES.has(fields.name)) {
    return {
      kind: 'terminal',
      code: NOT_KINESIS_CODE,
      throttled: false,
      message: `the endpoint answered HTTP ${status}: is this a Kinesis endpoint?`,
    };
  }
  // Any other 4xx is a request the service will refuse again (the SDK's own retry strategy
  // agrees); stopping with its message beats retrying until the activity times out.
  if (status !== undefined && status >= 400) return { kind: 'terminal', code, throttled: false, message };
  // No HTTP status: the call failed before a response (network, credential provider). Retry; the
  // writer's attempt limit and the activity's retry policy bound it.
  return retryable(false);
}

/**
 * A per-record ErrorCode inside a successful PutRecords response. Every failed entry is resent:
 * the API documents ProvisionedThroughputExceededException (a signal to slow down) and
 * InternalFailure; any other code is resent too, and the writer counts entries by code so an
 * unexpected one shows up in its stats.
 */
export function classifyEntryError(errorCode: string): { throttled: boolean } {
  return { throttled: errorCode === 'ProvisionedThroughputExceededException' };
}

/** The terminal error for a classified error, naming the operation that failed. */
export function terminalError(classified: ClassifiedError, operation: string): KinesisTerminalError {
  return new KinesisTerminalError(classified.code, operation, classified.message);
}

function errorFields(error: unknown): { name?: string; code?: string; message?: string; status?: number } {
  if (typeof error !== 'object' || error === null) return {};
  const e = error as { name?: unknown; code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = e.$metadata?.httpStatusCode;
  return {
    // Plain `Error`s carry no information in their name; Node puts it in `code`.
    ...(typeof e.name === 'string' && e.name !== 'Error' ? { name: e.name } : {}),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.message === 'string' ? { message: e.message } : {}),
    ...(typeof status === 'number' ? { status } : {}),
  };
}

/** The text on one line, runs of whitespace (newlines included) as one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
