import type { Command } from 'commander';
import { CODEC_AUTH_TOKENS_ENV, readAuthTokens } from '../../codec/codecAuth';
import type { CodecAuth } from '../../codec/codecAuth';
import { startCodecServer, DEFAULT_UI_ORIGINS } from '../../codec/codecServer';
import { EncryptionCodec } from '../../codec/encryptionCodec';
import { CODEC_KEY_ENV, CODEC_KEY_FILE_ENV, keyringFromEnv } from '../../codec/keyring';
import { emit, fail } from '../output';
import { json, collect } from '../context';

export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      'decrypts payloads for the Temporal Web UI (its codec endpoint), ' +
        `with the keys in ${CODEC_KEY_ENV} or ${CODEC_KEY_FILE_ENV}`,
    )
    .option('--port <port>', 'port to listen on', '8888')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--allow-origin <origin>',
      `Web UI origin allowed to call it (repeat; default ${DEFAULT_UI_ORIGINS.join(', ')})`,
      collect,
      [],
    )
    .option(
      '--auth-token-file <path>',
      `bearer tokens callers must present, one per line (else ${CODEC_AUTH_TOKENS_ENV}, comma-separated)`,
    )
    .option('--unauthenticated', 'no token required: only on a loopback --host')
    .action(
      async (
        opts: { port: string; host: string; allowOrigin: string[]; authTokenFile?: string; unauthenticated?: boolean },
        cmd: Command,
      ) => {
        const keyring = keyringFromEnv();
        if (!keyring) fail(`no codec key: set ${CODEC_KEY_ENV} or ${CODEC_KEY_FILE_ENV}`);
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port: must be a port number (0-65535)');
        let auth: CodecAuth;
        if (opts.unauthenticated) auth = { unauthenticatedLoopback: true };
        else {
          const tokens = readAuthTokens(opts.authTokenFile);
          if (tokens.length === 0)
            fail(
              `no auth token: pass --auth-token-file FILE or set ${CODEC_AUTH_TOKENS_ENV} ` +
                '(or --unauthenticated on a loopback --host)',
            );
          auth = { tokens };
        }
        const server = await startCodecServer({
          codec: new EncryptionCodec(keyring),
          port,
          host: opts.host,
          auth,
          ...(opts.allowOrigin.length > 0 ? { allowedOrigins: opts.allowOrigin } : {}),
        });
        emit(
          json(cmd),
          { url: server.url, keyIds: [...keyring.byId.keys()] },
          `codec endpoint ${server.url} (keys ${[...keyring.byId.keys()].join(', ')}); ` +
            "set it in the Web UI's codec settings or start the dev server with " +
            `--ui-codec-endpoint ${server.url}`,
        );
        const stop = (): void => void server.stop().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
