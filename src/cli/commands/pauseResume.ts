import type { Command } from 'commander';
import { emit } from '../output';
import { withClient, json } from '../context';

export function registerPauseResume(program: Command): void {
  for (const [name, what] of [
    ['pause', 'stop exporting until resumed'],
    ['resume', 'resume exporting (also clears an error)'],
  ] as const) {
    program
      .command(`${name} <id>`)
      .description(what)
      .action(async (id: string, _opts: unknown, cmd: Command) => {
        await withClient((client) => (name === 'pause' ? client.pause(id) : client.resume(id)));
        emit(json(cmd), { id, [name === 'pause' ? 'paused' : 'resumed']: true }, `${name}d ${id}`);
      });
  }
}
