import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryptionCodec';
import { keyringFromEnv } from './keyring';
import type { CodecKeyring } from './keyring';

/**
 * The data converter client and worker share: with a keyring, every payload (workflow and
 * activity inputs and results, messages, memo, heartbeats, failure details) is encrypted;
 * without one, payloads stay plain JSON. Failure messages stay readable: they are this
 * project's one-line reasons and carry neither secrets nor profile data.
 */
export function dataConverterFor(keyring: CodecKeyring | undefined): DataConverter {
  return keyring ? { payloadCodecs: [new EncryptionCodec(keyring)] } : {};
}

/** The data converter the environment configures (KINESIS_ACTIVATION_CODEC_KEY or _FILE). */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return dataConverterFor(keyringFromEnv(env));
}
