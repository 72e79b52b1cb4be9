import type * as MessageParsing from '../domain/messageParsing';
import type { MessageKind, MessageParse } from '../domain/messageParsing';

/**
 * zod and the message schemas cost about 1.1 MiB and 10 ms per load, and every workflow loads
 * its own modules, so this module is preloaded (see `workflowBundleOptions`): its scope runs once
 * in the worker's reusable V8 context and `parsing` is one for every workflow there. The SDK
 * deep-freezes what preloaded modules export, and zod's schemas change themselves as they parse,
 * so the schemas load at the first message instead, and only this closure holds them. They keep
 * no state of any workflow: a parse depends on its input alone.
 */
let parsing: typeof MessageParsing | undefined;

export function parseMessageShared<K extends MessageKind>(kind: K, value: unknown): MessageParse<K> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at first use, as explained above
  parsing ??= require('../domain/messageParsing') as typeof MessageParsing;
  return parsing.parseMessage(kind, value);
}
