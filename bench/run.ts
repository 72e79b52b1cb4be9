/** `npm run bench`: the benchmarks of bench/, one after another; arguments go to each (see bench/README.md). */
import { runDiffLedgerBench } from './diffLedger';

async function main(): Promise<void> {
  await runDiffLedgerBench(process.argv.slice(2));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
