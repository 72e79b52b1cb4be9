import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { describeError } from '../../src/cli/errors';
import { ActivationClient } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer } from '../../src/embedded/temporalDevServer';
import { SEARCH_ATTRIBUTES } from '../../src/searchAttributes';
import { SqliteStore } from '../../src/store/sqliteStore';
import { createActivationWorker } from '../../src/worker';
import { getWorkflowBundle } from '../support/temporal';

describe('destination create on a fresh dev server, before any worker started', function () {
  let server: TemporalDevServer;
  let connection: Connection;
  let client: Client;
  let store: SqliteStore;
  let dir: string;

  before(async () => {
    // A plain `temporal server start-dev`: none of our search attributes.
    server = await startTemporalDevServer({ headless: true, searchAttributes: false });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: server.namespace });
    dir = mkdtempSync(join(tmpdir(), 'ka-create-'));
    store = new SqliteStore(join(dir, 'store.sqlite'));
  });

  after(async () => {
    await store?.close();
    await connection?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const customAttributes = async (): Promise<string[]> =>
    Object.keys(
      (await connection.operatorService.listSearchAttributes({ namespace: server.namespace })).customAttributes ?? {},
    );

  it('registers the missing search attributes itself, and the actor runs once a worker starts', async () => {
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) assert.ok(!(await customAttributes()).includes(name), name);
    const taskQueue = 'create-before-worker';
    const activation = new ActivationClient(client, store, taskQueue);

    const { id } = await activation.createDestination({
      name: 'early',
      region: 'us-east-1',
      stream: 'early-stream',
      endpoint: 'http://127.0.0.1:1',
      credentials: { type: 'accessKey', accessKeyId: 'AKIACREATEEXAMPLE01', secretAccessKeyEnv: 'CREATE_TEST_SECRET' },
    });

    for (const name of Object.keys(SEARCH_ATTRIBUTES)) assert.ok((await customAttributes()).includes(name), name);
    const described = await client.workflow.getHandle(destinationWorkflowId(id)).describe();
    assert.equal(described.status.name, 'RUNNING');
    assert.deepEqual(described.searchAttributes.DestinationId, [id]);

    // The worker comes later and picks the actor up.
    const native = await NativeConnection.connect({ address: server.address });
    try {
      const { worker, close } = await createActivationWorker({
        connection: native,
        namespace: server.namespace,
        taskQueue,
        store,
        workflowBundle: await getWorkflowBundle(),
        dataConverter: {},
      });
      try {
        const status = await worker.runUntil(activation.status(id));
        assert.deepEqual([status.destinationId, status.stream], [id, 'early-stream']);
      } finally {
        close();
      }
    } finally {
      await native.close();
    }
  });

  it('reports what the server said when a start fails, not a bare "Failed to start Workflow"', async () => {
    const unknown = defineSearchAttributeKey('KaNeverRegistered', SearchAttributeType.KEYWORD);
    const error = await client.workflow
      .start('destinationWorkflow', {
        taskQueue: 'nowhere',
        workflowId: 'start-fails',
        typedSearchAttributes: [{ key: unknown, value: 'x' }],
      })
      .then(
        () => assert.fail('the start succeeded'),
        (err: unknown) => err,
      );
    const line = describeError(error, { address: server.address, namespace: server.namespace, taskQueue: 'nowhere' });
    assert.match(line, /^Failed to start Workflow: .*KaNeverRegistered/);
    assert.doesNotMatch(line, /\n/);
  });
});
