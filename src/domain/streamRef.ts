/**
 * A destination names its stream by name or by ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
 * An ARN also names the account, so a stream shared by a resource policy from another account is
 * reached; AWS recommends sending it on data-plane calls.
 */
const STREAM_ARN =
  /^arn:aws[a-z-]*:kinesis:([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}):(\d{12}):stream\/([a-zA-Z0-9_.-]{1,128})$/;
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

export interface StreamArn {
  region: string;
  account: string;
  name: string;
}

/** The parts of a stream ARN; null for anything else (a stream name). */
export function parseStreamArn(stream: string): StreamArn | null {
  const match = STREAM_ARN.exec(stream);
  if (!match) return null;
  const [, region, account, name] = match as unknown as [string, string, string, string];
  return { region, account, name };
}

export function isStreamRef(stream: string): boolean {
  return STREAM_NAME.test(stream) || parseStreamArn(stream) !== null;
}

/** The stream's name, as ListStreams lists it. */
export function streamNameOf(stream: string): string {
  return parseStreamArn(stream)?.name ?? stream;
}

/** How a data-plane call names the stream: `StreamARN` when the destination gives one, else `StreamName`. */
export function streamParameter(stream: string): { StreamName: string } | { StreamARN: string } {
  return parseStreamArn(stream) ? { StreamARN: stream } : { StreamName: stream };
}
