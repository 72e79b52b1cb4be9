import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes that make destination runs findable in the Temporal UI. */
export const DESTINATION_ID = defineSearchAttributeKey('DestinationId', SearchAttributeType.KEYWORD);
export const KINESIS_STREAM = defineSearchAttributeKey('KinesisStream', SearchAttributeType.KEYWORD);
export const DESTINATION_STATE = defineSearchAttributeKey('DestinationState', SearchAttributeType.KEYWORD);
export const DESTINATION_NAME = defineSearchAttributeKey('DestinationName', SearchAttributeType.KEYWORD);

/** Name -> type, as `temporal server start-dev --search-attribute Name=Type` takes them. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = {
  [DESTINATION_ID.name]: 'Keyword',
  [KINESIS_STREAM.name]: 'Keyword',
  [DESTINATION_STATE.name]: 'Keyword',
  [DESTINATION_NAME.name]: 'Keyword',
};
