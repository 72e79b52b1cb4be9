/** Prints a result: JSON with --json, else the human text. */
export function emit(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

/** One line on stderr and a non-zero exit: the CLI contract for every failure. */
export function fail(message: string, exitCode = 1): never {
  process.stderr.write(`kinesis-activation: ${message.split('\n')[0]}\n`);
  process.exit(exitCode);
}
