import type { Readable } from 'node:stream';

/**
 * The lines of a byte stream, split on `\n` and not decoded (a trailing `\r` is left to the
 * parser): each line is yielded as soon as its end arrives, so a feed kept open streams.
 */
export async function* byteLines(input: Readable): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    let end = bytes.indexOf(0x0a);
    if (end !== -1 && rest.length > 0) {
      yield Buffer.concat([rest, bytes.subarray(0, end)]);
      rest = Buffer.alloc(0);
      start = end + 1;
      end = bytes.indexOf(0x0a, start);
    }
    for (; end !== -1; end = bytes.indexOf(0x0a, start)) {
      yield bytes.subarray(start, end);
      start = end + 1;
    }
    if (start < bytes.length)
      rest = rest.length > 0 ? Buffer.concat([rest, bytes.subarray(start)]) : bytes.subarray(start);
  }
  if (rest.length > 0) yield rest;
}
