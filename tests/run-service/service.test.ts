import { BrazeFatalError } from '../../shared/braze/types';
import { claimActiveRun, getActiveRunId, RUN_LOCK_BLOB, RunLeaseLostError, withRunLease } from '../../shared/run/lock';
import { deploymentIdOf, encodeRunMessage } from '../../shared/run/queue';
import { createRun, getRun, listRuns, updateRun } from '../../shared/run/records';
import { markPoisoned, processRunMessage, startRun } from '../../shared/run/service';
import type { RunExecutor, RunProgress } from '../../shared/run/types';
import { silentLogger } from '../../shared/telemetry/logger';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import {
  deferred,
  drainRunIds,
  freshServiceDeps,
  httpRequest,
  queuedMessageCount,
  testSummary,
  waitUntil,
} from './support';

const budget = { timeBudgetInMs: 60_000 };
const progressAt = (rowsRead: number): RunProgress => ({
  phase: 'reading',
  rowsRead,
  objectsSent: 0,
  updatedAt: new Date(0).toISOString(),
});
const completes: RunExecutor = async ({ runId }) => ({ kind: 'completed', summary: testSummary(runId) });

describe('run service', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite.stop());

  it('records a started run as queued and queues a base64 JSON message naming it', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const result = await startRun(deps, { ...httpRequest, segments: ['HighValueSegment'] });
    if (result.kind !== 'started') throw new Error(`expected started, got ${result.kind}`);
    expect(result.record.runId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(await getRun(deps.stateContainer, result.record.runId)).toMatchObject({
      status: 'queued',
      invocations: 0,
      request: { segments: ['HighValueSegment'], trigger: 'http' },
    });
    const { receivedMessageItems } = await deps.queue.receiveMessages();
    expect(JSON.parse(Buffer.from(receivedMessageItems[0].messageText, 'base64').toString('utf8'))).toEqual({
      runId: result.record.runId,
      deployment: deploymentIdOf(deps.stateContainer),
    });
    expect(await getActiveRunId(deps.stateContainer)).toBe(result.record.runId);
  });

  it('refuses a second run while one is active, and admits one once it has finished', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const first = await startRun(deps, httpRequest);
    if (first.kind !== 'started') throw new Error('first run not started');
    expect(await startRun(deps, { ...httpRequest, trigger: 'timer' })).toEqual({
      kind: 'conflict',
      activeRunId: first.record.runId,
    });

    await processRunMessage(deps, { runId: first.record.runId }, completes, budget);
    expect((await startRun(deps, httpRequest)).kind).toBe('started');
  });

  it('replaces a stale admission marker whose run failed without clearing it', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const stale = await createRun(deps.stateContainer, { request: httpRequest });
    expect(await claimActiveRun(deps.stateContainer, stale.runId)).toEqual({ claimed: true });
    await updateRun(deps.stateContainer, stale.runId, (record) => ({ ...record, status: 'failed' }));

    const result = await startRun(deps, httpRequest);
    expect(result.kind).toBe('started');
    expect(await getActiveRunId(deps.stateContainer)).not.toBe(stale.runId);
  });

  it('admits exactly one of ten concurrent starts', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const results = await Promise.all(Array.from({ length: 10 }, () => startRun(deps, httpRequest)));
    const started = results.filter((r) => r.kind === 'started');
    expect(started).toHaveLength(1);
    const winner = started[0].kind === 'started' ? started[0].record.runId : '';
    expect(results.filter((r) => r.kind === 'conflict' && r.activeRunId === winner)).toHaveLength(9);
    expect(await drainRunIds(deps)).toEqual([winner]);
  });

  it('lets only one of two workers started at once execute the run; the other requeues it for later', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    await drainRunIds(deps);
    const gate = deferred();
    let executions = 0;
    const waitsForGate: RunExecutor = async ({ runId }) => {
      executions++;
      await gate.promise;
      return { kind: 'completed', summary: testSummary(runId) };
    };

    const message = { runId: started.record.runId };
    const workers = [1, 2].map(() => processRunMessage(deps, message, waitsForGate, budget));
    const first = await Promise.race(workers);
    expect(first).toEqual({ kind: 'busy', runId: started.record.runId, retryInSeconds: 65 });
    gate.resolve();
    const outcomes = (await Promise.all(workers)).map((o) => o.kind).sort();

    expect(outcomes).toEqual(['busy', 'completed']);
    expect(executions).toBe(1);
    expect(await queuedMessageCount(deps)).toBe(1);
    expect(await getRun(deps.stateContainer, started.record.runId)).toMatchObject({
      status: 'succeeded',
      invocations: 1,
    });
    expect(await processRunMessage(deps, message, waitsForGate, budget)).toMatchObject({ kind: 'skipped' });
    expect(executions).toBe(1);
  });

  it('continues a paused run in new messages until it completes', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    const deadlines: number[] = [];
    let now = 1_000_000;
    deps.clock = () => now;
    const pausesTwice: RunExecutor = async ({ runId, deadline }) => {
      deadlines.push(deadline);
      if (deadlines.length <= 2) return { kind: 'paused', progress: progressAt(deadlines.length * 100) };
      return { kind: 'completed', summary: testSummary(runId, { status: 'succeeded', profilesRead: 300 }) };
    };

    const outcomes: string[] = [];
    for (;;) {
      const { receivedMessageItems } = await deps.queue.receiveMessages();
      if (receivedMessageItems.length === 0) break;
      const item = receivedMessageItems[0];
      const outcome = await processRunMessage(deps, item.messageText, pausesTwice, { timeBudgetInMs: 5000 });
      outcomes.push(outcome.kind);
      if (outcome.kind === 'paused') {
        expect(outcome.record).toMatchObject({ status: 'running', progress: { rowsRead: deadlines.length * 100 } });
      }
      await deps.queue.deleteMessage(item.messageId, item.popReceipt);
      now += 1000;
    }

    expect(outcomes).toEqual(['paused', 'paused', 'completed']);
    expect(deadlines).toEqual([1_005_000, 1_006_000, 1_007_000]);
    const record = await getRun(deps.stateContainer, started.record.runId);
    expect(record).toMatchObject({ status: 'succeeded', invocations: 3, summary: { profilesRead: 300 } });
    expect(record?.finishedAt).toBe(new Date(1_002_000).toISOString());
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
  });

  it('stores a held summary as a held run', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    const holds: RunExecutor = async ({ runId }) => ({
      kind: 'completed',
      summary: testSummary(runId, { status: 'held', membershipsRemovalHeld: 40 }),
    });
    const outcome = await processRunMessage(deps, encodeRunMessage(started.record), holds, budget);
    expect(outcome).toMatchObject({ kind: 'completed', record: { status: 'held' } });
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
  });

  it('marks a run failed on an ordinary error and releases the lease', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    const breaks: RunExecutor = async () => {
      throw new Error('model.json in export/2026 is missing');
    };
    const outcome = await processRunMessage(deps, { runId: started.record.runId }, breaks, budget);

    expect(outcome).toMatchObject({
      kind: 'failed',
      record: { status: 'failed', error: 'model.json in export/2026 is missing', invocations: 1 },
    });
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
    const next = await withRunLease(deps.stateContainer, { logger: silentLogger }, async () => 'ran');
    expect(next).toEqual({ acquired: true, value: 'ran' });
  });

  it('rethrows a retryable error, keeping the run running, and releases the lease', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    const throttled: RunExecutor = async () => {
      throw new BrazeFatalError('Braze kept answering 503', 503, true);
    };

    await expect(processRunMessage(deps, { runId: started.record.runId }, throttled, budget)).rejects.toThrow(
      'Braze kept answering 503',
    );
    expect(await getRun(deps.stateContainer, started.record.runId)).toMatchObject({
      status: 'running',
      lastError: 'Braze kept answering 503',
    });
    expect(await getActiveRunId(deps.stateContainer)).toBe(started.record.runId);
    const second = await processRunMessage(deps, { runId: started.record.runId }, completes, budget);
    expect(second).toMatchObject({ kind: 'completed', record: { status: 'succeeded', invocations: 2 } });
    expect(second.kind === 'completed' && second.record.lastError).toBeUndefined();
  });

  it('marks a poisoned run failed with the reason and its last error, and frees admission', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const started = await startRun(deps, httpRequest);
    if (started.kind !== 'started') throw new Error('run not started');
    await updateRun(deps.stateContainer, started.record.runId, (r) => ({
      ...r,
      status: 'running',
      lastError: 'HTTP 503',
    }));

    const record = await markPoisoned(deps, encodeRunMessage(started.record), 'the run message failed 5 times');
    expect(record).toMatchObject({ status: 'failed', error: 'the run message failed 5 times; last error: HTTP 503' });
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
    expect(await markPoisoned(deps, { runId: '../../x' }, 'reason')).toBeNull();
  });

  it('skips messages that name no valid run, an unknown run, or a finished run', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    let executions = 0;
    const counts: RunExecutor = async ({ runId }) => {
      executions++;
      return { kind: 'completed', summary: testSummary(runId) };
    };
    for (const message of ['not json', { runId: '../record' }, { runId: '20261128T121500Z-00000000' }]) {
      expect(await processRunMessage(deps, message, counts, budget)).toMatchObject({ kind: 'skipped' });
    }
    expect(executions).toBe(0);
  });

  it('writes progress at most once per interval while the run works', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    let now = 0;
    deps.clock = () => now;
    const runOnce = async (advanceInMs: number) => {
      const run = await createRun(deps.stateContainer, { request: httpRequest, clock: deps.clock });
      const reports: RunExecutor = async ({ runId, onProgress }) => {
        onProgress?.(progressAt(1));
        await waitUntil(async () => (await getRun(deps.stateContainer, runId))?.progress?.rowsRead === 1);
        now += advanceInMs;
        onProgress?.(progressAt(2));
        // A retryable failure leaves the progress as written (a completed run's record shows its final counts).
        throw new BrazeFatalError('stop here', 503, true);
      };
      await expect(
        processRunMessage(deps, { runId: run.runId }, reports, { ...budget, progressIntervalInMs: 5000 }),
      ).rejects.toThrow('stop here');
      return (await getRun(deps.stateContainer, run.runId))?.progress?.rowsRead;
    };

    expect(await runOnce(4999)).toBe(1);
    expect(await runOnce(5000)).toBe(2);
  });

  it('aborts the work when the lease cannot be renewed', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    const options = { leaseDurationInSeconds: 15, renewEveryInMs: 50, logger: silentLogger };
    const result = await withRunLease(deps.stateContainer, options, async (signal) => {
      await deps.stateContainer.getBlobClient(RUN_LOCK_BLOB).getBlobLeaseClient().breakLease(0);
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      return signal.reason;
    });
    expect(result.acquired && result.value).toBeInstanceOf(RunLeaseLostError);
    const next = await withRunLease(deps.stateContainer, options, async () => 'ran');
    expect(next).toEqual({ acquired: true, value: 'ran' });
  });

  it('lists runs newest first, up to the limit', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    let now = Date.parse('2026-11-28T12:00:00Z');
    const clock = () => (now += 1000);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createRun(deps.stateContainer, { request: httpRequest, clock })).runId);
    expect((await listRuns(deps.stateContainer, 3)).map((r) => r.runId)).toEqual([ids[4], ids[3], ids[2]]);
    expect(await listRuns(deps.stateContainer, 100)).toHaveLength(5);
  });
});
