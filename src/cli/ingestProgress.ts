import { createReadStream, openSync, statSync } from 'node:fs';
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
  const input = createReadStream(file, { fd: openInput(file) });
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

/** Opens the file for reading, or throws one line naming it (missing, a directory, not readable). */
function openInput(file: string): number {
  if (file === '') throw new Error('ingest: no input file named: give a file path, or - for stdin');
  try {
    if (statSync(file).isDirectory()) throw new Error(`cannot read ${file}: it is a directory, not a file`);
    return openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`cannot read ${file}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw new Error(`cannot read ${file}: permission denied`);
    if (code !== undefined) throw new Error(`cannot read ${file}: ${code}`);
    throw err;
  }
}
