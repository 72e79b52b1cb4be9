/**
 * Runs kinesalite, plus the fault proxy in front of it with the faults in BENCH_PROXY_FAULTS
 * (JSON), in a process of its own: like the real service, the emulator then does not share an
 * event loop with the code being measured. Prints one JSON line with both endpoints; exits when
 * stdin closes. Started by startEmulatorProcess (bench/emulator.ts).
 */
import { startKinesisEmulator } from '../src/embedded/kinesisEmulator';
import { startKinesisFaultProxy } from '../test/support/kinesisFaultProxy';
import type { KinesisFaults } from '../test/support/kinesisFaultProxy';

async function main(): Promise<void> {
  // An optional argument: a directory where kinesalite keeps its streams (LevelDB) instead of memory.
  const path = process.argv[2];
  const emulator = await startKinesisEmulator(path ? { path } : {});
  const faults = JSON.parse(process.env.BENCH_PROXY_FAULTS ?? '{}') as Partial<KinesisFaults>;
  const proxy = await startKinesisFaultProxy(emulator.endpoint, faults);
  process.stdout.write(`${JSON.stringify({ endpoint: emulator.endpoint, proxyEndpoint: proxy.endpoint })}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    void proxy
      .stop()
      .then(() => emulator.stop())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
