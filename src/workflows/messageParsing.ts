import { ApplicationFailure, patched, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/types';
import type { MessageKind, MessageParse, ParsedMessage } from '../domain/messageParsing';
import { parseMessageShared } from './sharedParsing';

/**
 * The workflow never imports zod and the message schemas: validators parse with the copy the
 * worker's workflows share (see sharedParsing), and handlers take the parsed message from a local
 * activity, which a replay reads back from history. A replay then evaluates no zod.
 */
const PARSE_IN_ACTIVITY_PATCH = 'parse-messages-in-activity';

const { parseMessage: parseInActivity } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumInterval: '1 second' },
});

function valueOf<K extends MessageKind>(parse: MessageParse<K>): ParsedMessage<K> {
  if (parse.ok) return parse.value;
  // One line naming the field, and nothing changes.
  throw ApplicationFailure.create({ type: 'ValidationError', nonRetryable: true, message: parse.error });
}

/** Validates a message where it must be synchronous (update validators: bad input never reaches history). */
export function validateMessage<K extends MessageKind>(kind: K, value: unknown): ParsedMessage<K> {
  return valueOf(parseMessageShared(kind, value));
}

/** The parsed message a handler acts on; histories from before the patch parse in the sandbox. */
export async function parsedMessage<K extends MessageKind>(kind: K, value: unknown): Promise<ParsedMessage<K>> {
  if (!patched(PARSE_IN_ACTIVITY_PATCH)) return validateMessage(kind, value);
  // The activity parses with the same schema, so its result is this kind's.
  return valueOf((await parseInActivity({ kind, value })) as MessageParse<K>);
}
