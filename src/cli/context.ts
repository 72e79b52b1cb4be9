import type { Command } from 'commander';
import { ActivationClient } from '../client/activationClient';
import { databaseUrlFromEnv, temporalConfigFromEnv } from '../config';
import { openStore } from '../store/openStore';

export const temporal = temporalConfigFromEnv();

export interface GlobalOptions {
  json?: boolean;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Runs a command with a client and store, closing both, and reports failures as one line.
 * `lazy`: the command works on the store while Temporal is down (see ActivationClient.connect).
 */
export async function withClient<T>(
  fn: (client: ActivationClient) => Promise<T>,
  { lazy = false }: { lazy?: boolean } = {},
): Promise<T> {
  const store = await openStore(databaseUrlFromEnv());
  let client: ActivationClient | undefined;
  try {
    client = await ActivationClient.connect(temporal, store, undefined, { lazy });
    return await fn(client);
  } finally {
    await client?.close();
    await store.close();
  }
}

export function json(cmd: Command): boolean {
  return Boolean(cmd.optsWithGlobals<GlobalOptions>().json);
}
