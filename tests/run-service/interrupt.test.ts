import { BrazeFatalError } from '../../shared/braze/types';
import { runBlobName } from '../../shared/run/artifacts';
import { getActiveRunId, inspectRunLease, withRunLease } from '../../shared/run/lock';
import { exitCodeOf, EXIT_CODES, ResumeLaterError } from '../../shared/run/outcome';
import { getRun } from '../../shared/run/records';
import { processRunMessage, startRun } from '../../shared/run/service';
import { isTransientStorageError } from '../../shared/errors';
import { withStorageRetry } from '../../shared/run/storageErrors';
import type { RunExecutor, RunProgress, RunSummary } from '../../shared/run/types';
import { silentLogger } from '../../shared/telemetry/logger';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { drainRunIds, freshServiceDeps, httpRequest, testSummary } from './support';

const budget = { timeBudgetInMs: 60_000 };
const progressAt = (rowsRead: number): RunProgress => ({
  phase: 'reading',
  rowsRead,
  objectsSent: rowsRead,
  updatedAt: new Date(0).toISOString(),
});

/** Reports progress, then fails with `error` (or waits for the step's signal and stops like the pipeline). */
const failsWith =
  (error: () => unknown): RunExecutor =>
  async ({ onProgress }) => {
    onProgress?.(progressAt(42));
    throw error();
  };

describe('interrupted, failed and taken-over runs', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite.stop());

  async function started() {
    const deps = await freshServiceDeps(azurite.connectionString);
    const result = await startRun(deps, { ...httpRequest, trigger: 'cli' });
    if (result.kind !== 'started') throw new Error('not started');
    await drainRunIds(deps);
    return { deps, runId: result.record.runId };
  }

  async function blobText(deps: Awaited<ReturnType<typeof started>>['deps'], name: string): Promise<string> {
    return (await deps.stateContainer.getBlobClient(name).downloadToBuffer()).toString('utf8');
  }

  it('a stop signal interrupts the run: lease released, admission kept, summary and report written, and the next start resumes it', async () => {
    const { deps, runId } = await started();
    const stop = new AbortController();
    const stopsWhenAsked: RunExecutor = async ({ signal, onProgress }) => {
      onProgress?.(progressAt(7));
      stop.abort();
      expect(signal?.aborted).toBe(true);
      throw new Error('the run lock was lost; the run will resume from its checkpoint');
    };
    const result = await processRunMessage(deps, { runId }, stopsWhenAsked, { ...budget, stopSignal: stop.signal });
    expect(result).toMatchObject({ kind: 'interrupted', record: { status: 'interrupted', outcome: 'interrupted' } });
    const record = (await getRun(deps.stateContainer, runId))!;
    expect(record).toMatchObject({
      status: 'interrupted',
      error: 'interrupted by the operator',
      progress: { phase: 'finished', rowsRead: 7, objectsSent: 7 },
    });
    expect(exitCodeOf(record)).toBe(EXIT_CODES.interrupted);
    expect(await inspectRunLease(deps.stateContainer)).toEqual({ held: false });
    expect(await getActiveRunId(deps.stateContainer)).toBe(runId);
    const summary = JSON.parse(await blobText(deps, runBlobName(runId, 'summary.json'))) as RunSummary;
    expect(summary).toMatchObject({ runId, status: 'interrupted', outcome: 'interrupted', profilesRead: 7 });
    expect(await blobText(deps, runBlobName(runId, 'report.html'))).toContain('interrupted by the operator');

    // The next start (any trigger) resumes it rather than answering "another run is active".
    const next = await startRun(deps, httpRequest);
    expect(next).toMatchObject({ kind: 'resumed', record: { runId } });
    expect(await drainRunIds(deps)).toEqual([runId]);
    const resumed = await processRunMessage(
      deps,
      { runId },
      async () => ({ kind: 'completed', summary: testSummary(runId, { rejected: 2 }) }),
      budget,
    );
    expect(resumed).toMatchObject({ kind: 'completed', record: { status: 'succeeded' } });
    const finished = (await getRun(deps.stateContainer, runId))!;
    expect(finished).toMatchObject({
      outcome: 'succeededWithRejections',
      progress: { phase: 'finished', rowsRead: 10, objectsSent: 10 },
      invocations: 2,
    });
    expect(finished.error).toBeUndefined();
    expect(exitCodeOf(finished)).toBe(EXIT_CODES.succeededWithRejections);
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
  });

  it('abandonInterrupted marks the interrupted run failed and starts a new one', async () => {
    const { deps, runId } = await started();
    const stop = new AbortController();
    stop.abort();
    await processRunMessage(
      deps,
      { runId },
      failsWith(() => new Error('stopped')),
      {
        ...budget,
        stopSignal: stop.signal,
      },
    );
    const next = await startRun(deps, httpRequest, { abandonInterrupted: true });
    expect(next.kind).toBe('started');
    expect(await getRun(deps.stateContainer, runId)).toMatchObject({
      status: 'failed',
      outcome: 'failed',
      error: 'abandoned by the operator before it finished',
    });
    expect(await getActiveRunId(deps.stateContainer)).toBe(next.kind === 'started' ? next.record.runId : '');
  });

  it('a failed run writes its summary and report with the error and how far it got, and frees admission', async () => {
    const { deps, runId } = await started();
    const result = await processRunMessage(
      deps,
      { runId },
      failsWith(() => new Error('Braze answered 401')),
      budget,
    );
    expect(result).toMatchObject({ kind: 'failed' });
    const summary = JSON.parse(await blobText(deps, runBlobName(runId, 'summary.json'))) as RunSummary;
    expect(summary).toMatchObject({ status: 'failed', outcome: 'failed', error: 'Braze answered 401' });
    expect(summary.profilesRead).toBe(42);
    const report = await blobText(deps, runBlobName(runId, 'report.html'));
    expect(report).toContain('Braze answered 401');
    expect(report).toContain('how far it got');
    expect(await getRun(deps.stateContainer, runId)).toMatchObject({
      progress: { phase: 'finished', rowsRead: 42 },
      summary: { outcome: 'failed' },
    });
    expect(await getActiveRunId(deps.stateContainer)).toBeNull();
  });

  it('a retryable failure is interrupted (not redelivered) when asked, or when the run must resume later', async () => {
    for (const [error, options] of [
      [() => new BrazeFatalError('Braze 503 after retries', 503, true), { interruptOnRetryableFailure: true }],
      [() => new ResumeLaterError('Braze down (max retry time 5 s spent)'), {}],
    ] as const) {
      const { deps, runId } = await started();
      const result = await processRunMessage(deps, { runId }, failsWith(error), { ...budget, ...options });
      expect(result).toMatchObject({ kind: 'interrupted', record: { status: 'interrupted' } });
      expect(await getActiveRunId(deps.stateContainer)).toBe(runId);
    }
  });

  it('a transient storage error is retryable: the message is delivered again and the run stays running', async () => {
    const { deps, runId } = await started();
    const storage503 = () => Object.assign(new Error('Service Unavailable'), { statusCode: 503 });
    await expect(processRunMessage(deps, { runId }, failsWith(storage503), budget)).rejects.toThrow(
      'Service Unavailable',
    );
    expect(await getRun(deps.stateContainer, runId)).toMatchObject({
      status: 'running',
      lastError: 'Service Unavailable',
    });
  });

  it('does not interrupt a run whose lease was lost (another worker may own it)', async () => {
    const { deps, runId } = await started();
    const stop = new AbortController();
    const leaseLost: RunExecutor = async ({ signal }) => {
      // Another worker breaks the lease; this one's renewal fails and the step stops.
      await deps.stateContainer.getBlobClient('locks/run.lock').getBlobLeaseClient().breakLease(0);
      await new Promise<void>((resolve) => signal!.addEventListener('abort', () => resolve(), { once: true }));
      stop.abort();
      throw new Error('stopped');
    };
    await expect(
      processRunMessage(deps, { runId }, leaseLost, {
        ...budget,
        leaseDurationInSeconds: 15,
        stopSignal: stop.signal,
        interruptOnRetryableFailure: true,
      }),
    ).rejects.toThrow(/lost the run lease/);
    expect((await getRun(deps.stateContainer, runId))?.status).toBe('running');
  }, 60_000);

  it('classifies storage errors: 5xx, 408, 429 and connection errors are transient; 404, 409, 412 are answers', async () => {
    for (const statusCode of [500, 502, 503, 504, 408, 429]) expect(isTransientStorageError({ statusCode })).toBe(true);
    for (const statusCode of [400, 403, 404, 409, 412]) expect(isTransientStorageError({ statusCode })).toBe(false);
    expect(isTransientStorageError({ code: 'ECONNRESET' })).toBe(true);
    expect(isTransientStorageError({ code: 'REQUEST_SEND_ERROR' })).toBe(true);
    expect(isTransientStorageError(new Error('x', { cause: { code: 'ETIMEDOUT' } }))).toBe(true);
    expect(isTransientStorageError(new Error('bad json'))).toBe(false);

    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    let calls = 0;
    const flaky = async () => {
      if (++calls < 3) throw { statusCode: 429 };
      return 'written';
    };
    expect(await withStorageRetry('x', flaky, { sleep })).toBe('written');
    expect(waits).toEqual([500, 1000]);
    await expect(
      withStorageRetry('runs/x/checkpoint.json', async () => Promise.reject({ statusCode: 503 }), { sleep }),
    ).rejects.toMatchObject({
      name: 'StorageUnavailableError',
      retryable: true,
      message: 'state storage unavailable while writing runs/x/checkpoint.json (HTTP 503)',
    });
    await expect(withStorageRetry('x', async () => Promise.reject({ statusCode: 412 }), { sleep })).rejects.toEqual({
      statusCode: 412,
    });
  });

  it('maps every outcome to its exit code', () => {
    const summary = (rejected: number) => ({ rejected });
    expect(exitCodeOf({ status: 'succeeded', summary: summary(0) })).toBe(0);
    expect(exitCodeOf({ status: 'failed' })).toBe(1);
    expect(exitCodeOf({ status: 'held', summary: summary(3) })).toBe(3);
    expect(exitCodeOf({ status: 'succeeded', summary: summary(1) })).toBe(4);
    expect(exitCodeOf({ status: 'interrupted' })).toBe(5);
    expect(new Set(Object.values(EXIT_CODES)).size).toBe(Object.keys(EXIT_CODES).length);
  });

  it('keeps the lease holder so that a takeover can tell a dead local process', async () => {
    const deps = await freshServiceDeps(azurite.connectionString);
    await withRunLease(deps.stateContainer, { logger: silentLogger, leaseDurationInSeconds: 15 }, async () => {
      expect(await inspectRunLease(deps.stateContainer)).toMatchObject({ held: true, holder: { pid: process.pid } });
    });
    expect(await inspectRunLease(deps.stateContainer)).toEqual({ held: false });
  });
});
