import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { createApp, type App } from '../../shared/run/app';
import { getRun } from '../../shared/run/records';
import { encodeRunMessage, ForeignRunMessageError, MAX_FOREIGN_HOPS, parseRunMessage } from '../../shared/run/queue';
import { markPoisoned, processRunMessage, startRun } from '../../shared/run/service';
import type { RunRecord, RunRequest } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import { checkConfiguration } from '../../tools/cli/check';
import { compareWithSandbox, expectedState } from '../../tools/demo/expected';
import {
  containerSink,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { localEnvironment } from '../../tools/local/environment';
import { runQueueWorker } from '../../tools/worker/worker';

const EXPORT_CONTAINER = 'ci-exports';
const EXPORT_PATH = 'CustomerInsights_shared/BrazeFeed';
const config = sampleExportConfig({ profiles: 800, seed: 23_008 }) as { segments: GeneratorOptions['segments'] };
const options: GeneratorOptions = { profiles: 800, seed: 23_008, segments: config.segments };
const request: RunRequest = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'http' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Deployment {
  env: Record<string, string>;
  app: App;
  sandbox: BrazeSandbox;
  logger: MemoryLogger;
}

describe('integrity: two deployments sharing a run queue name', () => {
  let azurite: Azurite;
  const deployments: Deployment[] = [];

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    await container.create();
    await writeExport(containerSink(container), EXPORT_PATH, { ...options, run: 0 });
    const sharedQueue = `export-runs-${randomBytes(4).toString('hex')}`;
    for (const name of ['a', 'b']) {
      // Each app its own state container and Braze workspace; a copied setting gives both the same queue name.
      const sandbox = await startBrazeSandbox({ rateLimit: null });
      const env = localEnvironment({
        storageConnectionString: azurite.connectionString,
        brazeUrl: sandbox.url,
        brazeApiKey: sandbox.apiKey,
        exportContainer: EXPORT_CONTAINER,
        exportPath: EXPORT_PATH,
        exportConfig: config,
        extra: { STATE_CONTAINER: `state-${name}-${randomBytes(4).toString('hex')}`, RUN_QUEUE_NAME: sharedQueue },
      });
      deployments.push({ env, app: await createApp(env), sandbox, logger: new MemoryLogger() });
    }
  }, 120_000);
  afterAll(async () => {
    for (const deployment of deployments) await deployment.sandbox.close();
    await azurite?.stop();
  });

  it('check warns about the shared queue, and both runs complete with Braze right', async () => {
    const [a, b] = deployments;
    const runIds: string[] = [];
    for (const deployment of [a, b]) {
      const started = await startRun(deployment.app.serviceDeps(deployment.logger), request);
      if (started.kind !== 'started') throw new Error('a run was already active');
      runIds.push(started.record.runId);
    }

    // Each app sees the other's message in the queue it thinks is its own.
    for (const deployment of [a, b]) {
      const { findings } = await checkConfiguration(deployment.env);
      expect(findings).toContainEqual({
        level: 'warning',
        area: 'run queue',
        message: expect.stringMatching(/is shared: it holds 1 run message\(s\) of another deployment/),
      });
    }

    const work = (deployment: Deployment) =>
      runQueueWorker({
        deps: deployment.app.serviceDeps(deployment.logger),
        executor: deployment.app.executor,
        timeBudgetInMs: 60_000,
        once: true,
        visibilityTimeoutInSeconds: 10,
        pollIntervalInMs: 100,
      });
    // B's worker starts alone, so it takes A's message (queued first) and must hand it on, not delete it.
    const workerB = work(b);
    while (!b.logger.text().includes('run message of another deployment passed on')) await sleep(100);
    const [statsA, statsB] = await Promise.all([work(a), workerB]);

    expect(statsA.poisoned + statsB.poisoned).toBe(0);
    for (const [index, deployment] of [a, b].entries()) {
      const record = (await getRun(deployment.app.stateContainer, runIds[index])) as RunRecord;
      expect(record.status).toBe('succeeded');
      expect(deployment.logger.text()).not.toContain('unknown run');
      // Independent check: each workspace holds the export, as the generator's model says.
      const expected = expectedState(options, 0);
      expect(compareWithSandbox(deployment.sandbox, expected)).toEqual({
        expectedUsers: expected.users.length,
        matchingUsers: expected.users.length,
        differences: [],
      });
    }
    // The queue is empty again: a later POST is admitted.
    expect((await a.app.queue.getProperties()).approximateMessagesCount).toBe(0);
    expect((await startRun(a.app.serviceDeps(a.logger), request)).kind).toBe('started');
  }, 240_000);

  it("a message whose owner never takes it goes to the poison queue, where it does not touch this app's runs", async () => {
    const [a] = deployments;
    const deps = a.app.serviceDeps(a.logger);
    await a.app.queue.clearMessages(); // the run the first test left queued
    const orphan = { runId: '20261204T150000Z-0badc0de', deployment: 'feedfacefeedface' };
    const neverRun = async () => {
      throw new Error('another deployment’s run must not be executed here');
    };
    const budget = { timeBudgetInMs: 60_000 };
    // Passed on with one more hop each time, until the cap.
    await processRunMessage(deps, encodeRunMessage({ ...orphan, hops: MAX_FOREIGN_HOPS - 1 }), neverRun, budget);
    let [copy] = (await a.app.queue.receiveMessages()).receivedMessageItems;
    while (!copy) {
      await sleep(250);
      [copy] = (await a.app.queue.receiveMessages()).receivedMessageItems;
    }
    expect(parseRunMessage(copy.messageText)).toEqual({ ...orphan, hops: MAX_FOREIGN_HOPS });
    await a.app.queue.deleteMessage(copy.messageId, copy.popReceipt);
    await expect(processRunMessage(deps, copy.messageText, neverRun, budget)).rejects.toBeInstanceOf(
      ForeignRunMessageError,
    );
    // The poison handler leaves it alone: no record of this app is marked failed.
    expect(await markPoisoned(deps, copy.messageText, 'the run message failed 5 times')).toBeNull();
    expect(a.logger.text()).toContain('poison message of another deployment ignored');
  }, 60_000);
});
