import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ActivationClient } from '../../src/client/activationClient';
import type { Activation } from '../../src/domain/activation';
import { ensureStream } from '../../src/embedded/ensureStream';
import { waitFor } from '../../src/embedded/waitFor';
import type { DestinationStatus } from '../../src/workflows/messages';

/**
 * A destination on a new one-shard stream of the emulator at `endpoint`, activated with
 * `activation`; its secret is read from the environment variable `secretEnv` (set here).
 */
export async function emulatorDestination(
  client: ActivationClient,
  kinesis: KinesisClient,
  endpoint: string,
  activation: Activation,
  secretEnv = 'TEST_DESTINATION_SECRET',
): Promise<{ id: string; stream: string }> {
  process.env[secretEnv] ??= 'any';
  const stream = `test-${randomUUID()}`;
  await ensureStream(kinesis, stream, 1);
  const { id } = await client.createDestination({
    name: stream,
    region: 'us-east-1',
    stream,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIATESTDESTINAT01', secretAccessKeyEnv: secretEnv },
  });
  await client.activate(id, activation);
  return { id, stream };
}

/** The destination's status once it is idle, having decided `n` profiles in all. */
export function decided(client: ActivationClient, id: string, n: number): Promise<DestinationStatus> {
  return waitFor(
    async () => {
      const s = await client.status(id);
      return s.state === 'idle' && s.counters.received === n ? s : undefined;
    },
    { timeoutMs: 30_000, what: `the destination to decide ${n} profiles` },
  );
}
