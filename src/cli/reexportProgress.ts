import { Presets, SingleBar } from 'cli-progress';
import type { ReexportProgress } from '../workflows/messages';

export interface ProgressReporter {
  update(progress: ReexportProgress): void;
  stop(): void;
}

/** One plain line of a re-export's progress. */
export function describeReexportProgress(p: ReexportProgress): string {
  const remaining = p.estimatedRemaining === null ? '' : `, ~${p.estimatedRemaining} remaining`;
  return (
    `re-export ${p.id}: ${p.pagesDone} page(s), ${p.profilesRead} member(s) read, ` +
    `${p.profilesExported} exported${remaining}`
  );
}

/** Lines at most this often when stderr is not a terminal (logs, CI). */
const PLAIN_LINE_INTERVAL_MS = 2000;

/**
 * Shows a re-export's progress on `stream`: a progress bar on a terminal, plain lines (when
 * pages were done since the last line) otherwise, so logs stay readable.
 */
export function reexportProgressReporter(stream: NodeJS.WriteStream): ProgressReporter {
  if (!stream.isTTY) {
    let lastPages = -1;
    let lastLineAt = 0;
    return {
      update(p) {
        const now = Date.now();
        if (p.pagesDone === lastPages || now - lastLineAt < PLAIN_LINE_INTERVAL_MS) return;
        lastPages = p.pagesDone;
        lastLineAt = now;
        stream.write(`${describeReexportProgress(p)}\n`);
      },
      stop() {},
    };
  }
  const bar = new SingleBar(
    {
      stream,
      format:
        're-export [{bar}] {percentage}% | {value}/{total} members | ' +
        '{exported} exported | page {pages} | ETA {eta_formatted}',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = { exported: p.profilesExported, pages: p.pagesDone };
      const total = Math.max(p.estimatedTotal ?? 0, p.profilesRead);
      if (!started) {
        bar.start(total, p.profilesRead, payload);
        started = true;
        return;
      }
      bar.setTotal(total);
      bar.update(p.profilesRead, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
