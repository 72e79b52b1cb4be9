import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
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
        const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        const query = encodeURIComponent(`DestinationId="${id}"`);
        await page.goto(`${server.uiUrl}/namespaces/${server.namespace}/workflows?query=${query}`);
        await page.getByRole('link', { name: `destination-${id}` }).click({ timeout: 30_000 });
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
        assert.match(text, /"DestinationState": "(idle|exporting|paused|error)"/);
        mkdirSync(ARTIFACTS, { recursive: true });
        const screenshot = join(ARTIFACTS, 'ui-destination-search-attributes.png');
        await page.screenshot({ path: screenshot, fullPage: true });
        assert.ok(statSync(screenshot).size > 10_000, 'a real screenshot was written');
      });
    } finally {
      close();
      await connection.close();
      await nativeConnection.close();
    }
  });
});
