import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BrazeFatalError } from '../../shared/braze/types';
import { SETTINGS } from '../../shared/config/settings';
import { getRun } from '../../shared/run/records';
import { startRun } from '../../shared/run/service';
import type { RunExecutor } from '../../shared/run/types';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { parseWorkerArgs } from '../../tools/worker/options';
import { runQueueWorker } from '../../tools/worker/worker';
import { freshServiceDeps, httpRequest, queuedMessageCount, testSummary } from './support';

describe('local queue worker', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite.stop());

  it('works a run through its continuations and exits with --once when the queue is empty', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    let steps = 0;
    const pausesTwice: RunExecutor = async ({ runId }) => {
      steps++;
      if (steps <= 2)
        return { kind: 'paused', progress: { phase: 'reading', rowsRead: steps, objectsSent: 0, updatedAt: '' } };
      return { kind: 'completed', summary: testSummary(runId) };
    };

    const stats = await runQueueWorker({ deps, executor: pausesTwice, timeBudgetInMs: 1000, once: true });
    expect(stats).toEqual({ messages: 3, failures: 0, poisoned: 0 });
    expect(await getRun(deps.stateContainer, started.record.runId)).toMatchObject({
      status: 'succeeded',
      invocations: 3,
    });
    expect(await queuedMessageCount(deps)).toBe(0);
  });

  it('redelivers a failed message and marks the run failed once the message is poisoned', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    let attempts = 0;
    const alwaysUnavailable: RunExecutor = async () => {
      attempts++;
      throw new BrazeFatalError('Braze answered 503 on every attempt', 503, true);
    };

    const stats = await runQueueWorker({
      deps,
      executor: alwaysUnavailable,
      timeBudgetInMs: 1000,
      once: true,
      maxDequeueCount: 2,
      visibilityTimeoutInSeconds: 1,
      pollIntervalInMs: 100,
    });
    expect(stats).toEqual({ messages: 3, failures: 2, poisoned: 1 });
    expect(attempts).toBe(2);
    expect(await getRun(deps.stateContainer, started.record.runId)).toMatchObject({
      status: 'failed',
      error: 'the run message failed 2 times; last error: Braze answered 503 on every attempt',
    });
  });

  it('keeps the message hidden while a step outlasts the visibility timeout', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    let visibleDuringStep = -1;
    const slow: RunExecutor = async ({ runId }) => {
      await new Promise((resolve) => setTimeout(resolve, 2200));
      visibleDuringStep = (await deps.queue.peekMessages()).peekedMessageItems.length;
      return { kind: 'completed', summary: testSummary(runId) };
    };

    const stats = await runQueueWorker({
      deps,
      executor: slow,
      timeBudgetInMs: 1000,
      once: true,
      visibilityTimeoutInSeconds: 1,
    });
    expect(visibleDuringStep).toBe(0);
    expect(stats).toEqual({ messages: 1, failures: 0, poisoned: 0 });
    expect(await queuedMessageCount(deps)).toBe(0);
  });

  it('parses its command line strictly', () => {
    expect(parseWorkerArgs(['--once', '--visibility-timeout-seconds', '5'])).toEqual({
      once: true,
      visibilityTimeoutInSeconds: 5,
      leaseDurationInSeconds: undefined,
    });
    expect(parseWorkerArgs([])).toMatchObject({ once: false, visibilityTimeoutInSeconds: 60 });
    expect(() => parseWorkerArgs(['--lease-duration-seconds', '90'])).toThrow('from 15 to 60');
    expect(() => parseWorkerArgs(['--visibility-timeout-seconds', 'x'])).toThrow('--visibility-timeout-seconds');
    expect(() => parseWorkerArgs(['--forever'])).toThrow();
  });
});

describe('host.json and local.settings.sample.json', () => {
  const root = path.join(__dirname, '..', '..');
  const readJson = (name: string) => JSON.parse(readFileSync(path.join(root, name), 'utf8'));

  it('lists every app setting the code reads in the local settings sample', () => {
    const values = readJson('local.settings.sample.json').Values as Record<string, string>;
    expect(Object.keys(SETTINGS).filter((name) => !(name in values))).toEqual([]);
    expect(values).toMatchObject({ BRAZE_ALLOW_INSECURE_LOOPBACK: 'true', EXPORT_CONFIG: 'export.config.sample.json' });
  });

  it('runs one queue message at a time, well inside the function timeout', () => {
    const host = readJson('host.json');
    expect(host.extensions.queues).toMatchObject({ batchSize: 1, newBatchThreshold: 0, maxDequeueCount: 5 });
    const [hours, minutes, seconds] = (host.functionTimeout as string).split(':').map(Number);
    const timeoutInSeconds = hours * 3600 + minutes * 60 + seconds;
    const budget = Number(readJson('local.settings.sample.json').Values.RUN_TIME_BUDGET_SECONDS);
    expect(budget * 2).toBeLessThanOrEqual(timeoutInSeconds);
    expect(host.logging.applicationInsights.samplingSettings.excludedTypes.split(';')).toEqual(
      expect.arrayContaining(['Request', 'Trace']),
    );
  });
});
