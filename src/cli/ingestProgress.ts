import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Presets, SingleBar } from 'cli-progress';

export interface IngestSource {
  input: Readable;
  /** Call after ingest: ends the bar. */
  done(): void;
}

/**
 * Opens an ingest source. Reading a file on a terminal shows a bar over its bytes (how far the
 * file has been read and stored); stdin, --json and non-terminals show nothing.
 */
export function openIngestSource(file: string, showProgress: boolean): IngestSource {
  if (file === '-') return { input: process.stdin, done: () => undefined };
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
