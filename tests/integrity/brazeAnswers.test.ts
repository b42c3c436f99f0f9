import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { createApp, type App } from '../../shared/run/app';
import { enqueueRun } from '../../shared/run/queue';
import { getRun } from '../../shared/run/records';
import { startRun } from '../../shared/run/service';
import type { RunRecord, RunRequest } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { startBrazeSandbox, type BrazeSandbox, type FaultRule } from '../../tools/braze-sandbox/server';
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
const EXPORT_PATH = 'CustomerInsights_answers/BrazeFeed';
const config = sampleExportConfig({ profiles: 1200, seed: 23_006 }) as { segments: GeneratorOptions['segments'] };
const options: GeneratorOptions = { profiles: 1200, seed: 23_006, segments: config.segments };
const request: RunRequest = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' };
const HTML_PAGE = '<html><body><h1>200 OK</h1>Request accepted by the edge proxy</body></html>';

/** Braze answers checked against the generator's model (tools/demo/expected.ts), not the pipeline's own code. */
describe('integrity: what Braze answered decides what counts as delivered', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    await container.create();
    await writeExport(containerSink(container), EXPORT_PATH, { ...options, run: 0 });
  }, 120_000);
  afterAll(async () => {
    await azurite?.stop();
  });
  beforeEach(async () => {
    sandbox = await startBrazeSandbox({ rateLimit: null });
  });
  afterEach(async () => {
    await sandbox?.close();
  });

  /** A deployment of its own (state container, queue) against the shared export and this test's sandbox. */
  async function newApp(extra: Record<string, string>): Promise<App> {
    const suffix = randomBytes(4).toString('hex');
    return createApp(
      localEnvironment({
        storageConnectionString: azurite.connectionString,
        brazeUrl: sandbox.url,
        brazeApiKey: sandbox.apiKey,
        exportContainer: EXPORT_CONTAINER,
        exportPath: EXPORT_PATH,
        exportConfig: config,
        extra: { STATE_CONTAINER: `state-${suffix}`, RUN_QUEUE_NAME: `runs-${suffix}`, ...extra },
      }),
    );
  }

  /** Starts a run and works the queue the way the host would, until it is empty. */
  async function work(app: App, logger: MemoryLogger, beforeWorking?: (runId: string) => Promise<void>) {
    const started = await startRun(app.serviceDeps(logger), request);
    if (started.kind !== 'started') throw new Error('a run was already active');
    await beforeWorking?.(started.record.runId);
    await runQueueWorker({
      deps: app.serviceDeps(logger),
      executor: app.executor,
      timeBudgetInMs: app.settings.runTimeBudgetInMs,
      once: true,
      visibilityTimeoutInSeconds: 10,
      pollIntervalInMs: 100,
    });
    return (await getRun(app.stateContainer, started.record.runId)) as RunRecord;
  }

  it('a 200 with an HTML body is retried, then its rows are rejected with the reason and sent next run', async () => {
    const app = await newApp({ BRAZE_CONCURRENCY: '1', BRAZE_MAX_ATTEMPTS: '3' });
    const html = { status: 200, body: HTML_PAGE };
    sandbox.setFaults([
      // The first batch gets HTML on all three attempts; the second batch once, then Braze's answer.
      { match: { count: 3 }, action: html },
      { match: { nth: 4 }, action: html },
    ] satisfies FaultRule[]);
    const logger = new MemoryLogger();
    const first = await work(app, logger);

    const expected = expectedState(options, 0);
    expect(first.status).toBe('succeeded');
    expect(first.summary!.rejected).toBe(75);
    const reasons = Object.keys(first.summary!.rejectedReasons);
    expect(reasons).toEqual([
      expect.stringContaining("HTTP 200 with a body that is not Braze's JSON after 3 attempts"),
    ]);
    expect(sandbox.requests().filter((r) => r.fault === 'status:200')).toHaveLength(4);
    // Independent check: the users of the first batch are missing, everyone else is right.
    const afterFirst = compareWithSandbox(sandbox, expected);
    expect(afterFirst.matchingUsers).toBeLessThan(expected.users.length);
    expect(afterFirst.matchingUsers).toBeGreaterThanOrEqual(expected.users.length - 75);

    // The same export again: not "already synced", the rejected rows go out and Braze is complete.
    const second = await work(app, new MemoryLogger());
    expect(second.status).toBe('succeeded');
    expect(second.summary!.alreadySynced).toBe(false);
    expect(second.summary!.rejected).toBe(0);
    expect(compareWithSandbox(sandbox, expected)).toEqual({
      expectedUsers: expected.users.length,
      matchingUsers: expected.users.length,
      differences: [],
    });
  }, 180_000);

  it('a Retry-After beyond BRAZE_MAX_RETRY_TIME_MS pauses the run until then, also for a duplicate message', async () => {
    const app = await newApp({ BRAZE_CONCURRENCY: '1', BRAZE_MAX_RETRY_TIME_MS: '1000' });
    const waitInSeconds = 4;
    sandbox.setFaults([
      { match: { nth: 3 }, action: { status: 429, headers: { 'retry-after': String(waitInSeconds) } } },
    ]);
    const logger = new MemoryLogger();
    const record = await work(app, logger, async (runId) => {
      // A second message for the run, as a queue redelivery would bring: it must not start a step early either.
      await enqueueRun(app.queue, { runId }, { delayInSeconds: 1 });
    });

    expect(record.status).toBe('succeeded');
    expect(record.resumeNotBefore).toBeUndefined();
    expect(logger.text()).toContain(`Braze asked to wait ${waitInSeconds} s`);
    expect(logger.text()).toContain('run waits as Braze asked');
    const track = sandbox.requests().filter((r) => r.path === '/users/track');
    const throttledAt = track.findIndex((r) => r.status === 429);
    expect(track.filter((r) => r.status === 429)).toHaveLength(1);
    // Every request after the 429 started at least the asked wait after its answer (a bound, not a timing).
    const answeredAt = Date.parse(track[throttledAt].finishedAt);
    const next = track.slice(throttledAt + 1);
    expect(next.length).toBeGreaterThan(0);
    for (const entry of next)
      expect(Date.parse(entry.startedAt) - answeredAt).toBeGreaterThanOrEqual(waitInSeconds * 1000);
    const expected = expectedState(options, 0);
    expect(compareWithSandbox(sandbox, expected).differences).toEqual([]);
    expect(compareWithSandbox(sandbox, expected).matchingUsers).toBe(expected.users.length);
  }, 180_000);
});
