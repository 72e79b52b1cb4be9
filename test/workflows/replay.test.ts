import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { getWorkflowBundle } from '../support/temporal';

const HISTORIES = resolve(__dirname, '..', 'fixtures', 'histories');

/**
 * Histories recorded from earlier versions (RECORD_HISTORY=1 with the end-to-end test) must
 * replay against the current workflow code: a change that breaks determinism fails here.
 */
describe('workflow replay of recorded histories', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

  it('has recorded histories to replay', () => {
    assert.ok(files.length > 0, `no histories in ${HISTORIES}`);
  });

  for (const file of files) {
    it(`replays ${file}`, async () => {
      const bundle = await getWorkflowBundle();
      const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, file);
    });
  }
});
