import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Presets, SingleBar } from 'cli-progress';
import type { IngestProgress } from '../client/activationClient';

export interface IngestSource {
  input: Readable;
  /** For stdin on a terminal: a count of lines stored so far. */
  onProgress?: (progress: IngestProgress) => void;
  /** Call after ingest: ends the bar. */
  done(): void;
}

/**
 * Opens an ingest source. On a terminal, reading a file shows a bar over its bytes (how far the
 * file has been read and stored) and reading stdin a running count of lines; --json and
 * non-terminals show nothing.
 */
export function openIngestSource(file: string, showProgress: boolean): IngestSource {
  if (file === '-') {
    if (!showProgress || !process.stderr.isTTY) return { input: process.stdin, done: () => undefined };
    return {
      input: process.stdin,
      onProgress: ({ linesRead, accepted, rejected }) =>
        process.stderr.write(`\ringest: ${linesRead} lines read, ${accepted} accepted, ${rejected} rejected`),
      done: () => process.stderr.write('\n'),
    };
  }
  const input = createReadStream(file);
  if (!showProgress || !process.stderr.isTTY) return { input, done: () => undefined };
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'ingest [{bar}] {percentage}% | {value}/{total} bytes | ETA {eta_formatted}',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  bar.start(statSync(file).size, 0);
  let read = 0;
  input.on('data', (chunk: Buffer | string) => {
    read += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    bar.update(read);
  });
  return { input, done: () => bar.stop() };
}
