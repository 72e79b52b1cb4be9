import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The version in package.json, found from src/cli (ts-node) and from lib/src/cli (the build). */
export function packageVersion(): string {
  for (const up of ['../..', '../../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'kinesis-activation' && pkg.version) return pkg.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return 'unknown';
}
