import { ApplicationFailure, patched, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/types';
import type * as MessageParsing from '../domain/messageParsing';
import type { MessageKind, MessageParse, ParsedMessage } from '../domain/messageParsing';

/**
 * zod and the message schemas cost each workflow about 1.1 MiB and 10 ms when evaluated (every
 * workflow has its own module instances), so the workflow never imports them: a validator loads
 * them at its first message, and handlers take the parsed message from a local activity, which
 * a replay reads back from history. An idle or replayed destination then carries no zod.
 */
const PARSE_IN_ACTIVITY_PATCH = 'parse-messages-in-activity';

const { parseMessage: parseInActivity } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumInterval: '1 second' },
});

let parsing: typeof MessageParsing | undefined;

function parseHere<K extends MessageKind>(kind: K, value: unknown): MessageParse<K> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at first use, as explained above
  parsing ??= require('../domain/messageParsing') as typeof MessageParsing;
  return parsing.parseMessage(kind, value);
}

function valueOf<K extends MessageKind>(parse: MessageParse<K>): ParsedMessage<K> {
  if (parse.ok) return parse.value;
  // One line naming the field, and nothing changes.
  throw ApplicationFailure.create({ type: 'ValidationError', nonRetryable: true, message: parse.error });
}

/** Validates a message where it must be synchronous (update validators: bad input never reaches history). */
export function validateMessage<K extends MessageKind>(kind: K, value: unknown): ParsedMessage<K> {
  return valueOf(parseHere(kind, value));
}

/** The parsed message a handler acts on; histories from before the patch parse in the sandbox. */
export async function parsedMessage<K extends MessageKind>(kind: K, value: unknown): Promise<ParsedMessage<K>> {
  if (!patched(PARSE_IN_ACTIVITY_PATCH)) return validateMessage(kind, value);
  // The activity parses with the same schema, so its result is this kind's.
  return valueOf((await parseInActivity({ kind, value })) as MessageParse<K>);
}
