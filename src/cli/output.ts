import { EXIT } from './exitCodes';

/** Prints a result: JSON with --json, else the human text. */
export function emit(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

let jsonErrors = false;

/** With --json, failures go to stderr as `{"error": "..."}` for scripts; set before parsing the arguments. */
export function useJsonErrors(enabled: boolean): void {
  jsonErrors = enabled;
}

/** One line on stderr: the CLI contract for every failure and warning. */
export function errorLine(message: string): string {
  const line = message.split('\n')[0] ?? '';
  return jsonErrors ? `${JSON.stringify({ error: line })}\n` : `kinesis-activation: ${line}\n`;
}

/** One line on stderr and a non-zero exit. */
export function fail(message: string, exitCode: number = EXIT.failure): never {
  process.stderr.write(errorLine(message));
  process.exit(exitCode);
}
