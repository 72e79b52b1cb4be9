import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { ActivationClient } from '../../src/client/activationClient';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer } from '../../src/embedded/temporalDevServer';
import { waitFor } from '../../src/embedded/waitFor';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { createActivationWorker } from '../../src/worker';
import { getWorkflowBundle } from '../support/temporal';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(__dirname, '..', '..', 'test-artifacts');

/** Debian's Chromium, headless, with the flags this closed network needs (no background fetches). */
function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

describe('Temporal Web UI of the dev server', function () {
  let dir: string;
  let server: TemporalDevServer;
  let store: Store;
  let browser: Browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ka-ui-'));
    server = await startTemporalDevServer({ dbFilename: join(dir, 'temporal.sqlite') });
    store = await openStore(join(dir, 'store.sqlite'));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await store?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds a destination's workflow by its search attribute and shows its search attributes", async () => {
    const taskQueue = 'ui-check';
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    const { worker, close } = await createActivationWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue,
      store,
      workflowBundle: await getWorkflowBundle(),
    });
    try {
      await worker.runUntil(async () => {
        const client = new ActivationClient(new Client({ connection, namespace: server.namespace }), store, taskQueue);
        const { id } = await client.createDestination({
          name: 'ui-check',
          description: 'browser check',
          region: 'eu-west-1',
          stream: 'ui-stream',
        });
        // Another destination, which the query must not find.
        const other = await client.createDestination({ name: 'ui-other', region: 'eu-west-1', stream: 'ui-other' });
        // Its first check settles the state the UI must show (no AWS here: it fails, and stays failed).
        const { state } = await waitFor(
          async () => ((s) => (s.permissions !== null || s.lastError !== null) && s)(await client.status(id)),
          { timeoutMs: 60_000, what: 'the first permission check' },
        );
        const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        const query = encodeURIComponent(`DestinationId="${id}"`);
        await page.goto(`${server.uiUrl}/namespaces/${server.namespace}/workflows?query=${query}`);
        const link = page.getByRole('link', { name: `destination-${id}` });
        await link.waitFor({ timeout: 30_000 });
        assert.deepEqual(
          await page.getByRole('link', { name: /^destination-/ }).allInnerTexts(),
          [`destination-${id}`],
          `the query lists this destination only, not destination-${other.id}`,
        );
        await link.click();
        await page.getByText('Search Attributes', { exact: true }).first().click();
        // The input shown before the tab switches also names the id: wait for the tab's own content.
        const text = await waitFor(
          async () => {
            const shown = await page.locator('body').innerText();
            return shown.includes('"DestinationState"') ? shown : undefined;
          },
          { timeoutMs: 30_000, what: 'the Search Attributes tab' },
        );
        assert.match(text, new RegExp(`"DestinationId": "${id}"`));
        assert.match(text, /"KinesisStream": "ui-stream"/);
        assert.match(text, /"DestinationName": "ui-check"/, 'findable by its name');
        assert.match(text, new RegExp(`"DestinationState": "${state}"`), 'the state the actor is in');
        // For people reviewing a run; what the test checks is the text above.
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'ui-destination-search-attributes.png'), fullPage: true });
      });
    } finally {
      close();
      await connection.close();
      await nativeConnection.close();
    }
  });
});
