import { BrazeFatalError } from '../braze/types';
import { isRetryable } from '../errors';
import { logRunMetrics } from '../telemetry/metrics';
import { clearActiveRun, DEFAULT_LEASE_DURATION_IN_SECONDS, withRunLease } from './lock';
import { ResumeLaterError, runOutcome } from './outcome';
import { enqueueRun, isForeignMessage, parseRunMessage, passOnForeignMessage } from './queue';
import { getRun, TERMINAL_STATUSES, updateRun } from './records';
import { finalProgress, markFailed, markInterrupted, safeMessage } from './runEndings';
import { ownMessage, type RunServiceDeps } from './serviceDeps';
import type { RunExecutor, RunProgress, RunRecord, RunStatus } from './types';

export interface ProcessRunOptions {
  /** Work done in this invocation before the run pauses and continues in a new message. */
  timeBudgetInMs: number;
  leaseDurationInSeconds?: number;
  /** Progress is written to the record at most this often. Default 5,000. */
  progressIntervalInMs?: number;
  /**
   * The operator's stop (CLI Ctrl-C): the step stops sending, waits for the answers in flight, saves its checkpoint,
   * releases the lease, and the run becomes `interrupted`; the next start resumes it.
   */
  stopSignal?: AbortSignal;
  /**
   * A retryable failure ends the step as `interrupted` instead of leaving the message for the queue to deliver
   * again (the CLI: nobody would deliver it; the next `run` resumes it).
   */
  interruptOnRetryableFailure?: boolean;
}

export type ProcessRunResult =
  | { kind: 'completed' | 'paused' | 'failed' | 'interrupted'; record: RunRecord }
  /**
   * Another worker holds the run lease, or Braze asked the run to wait: a copy of the message was queued to arrive
   * after `retryInSeconds`.
   */
  | { kind: 'busy' | 'waiting'; runId: string; retryInSeconds: number }
  /** The message belongs to another deployment sharing the queue: a copy was queued for it. */
  | { kind: 'foreign' }
  /** Nothing to do: the message names no run, an unknown run or a finished one. */
  | { kind: 'skipped'; reason: string };

/**
 * One worker invocation of a run: takes the run lease, executes a step under the time budget, records the outcome.
 *
 * - `paused`: the run stays `running` and a continuation message is queued (after the lease is released, so the
 *   next worker can take it at once).
 * - `completed`: summary and final status stored, admission freed.
 * - error: the run is marked `failed`, unless it is retryable (`isRetryable`, shared/errors.ts): then it is
 *   rethrown so the queue delivers the message again (and after `maxDequeueCount` attempts moves it to the poison
 *   queue).
 * - lease held elsewhere (`busy`): the run is not touched. Rather than failing the message, which would count
 *   towards `maxDequeueCount` and could poison a healthy long run's duplicate message, a copy is queued with a
 *   visibility delay longer than the lease, and this message completes. When the copy arrives the holder has
 *   finished (the copy is skipped), paused (the copy continues the run) or crashed (its lease has expired).
 * - Braze asked for a wait beyond the retry budget (a `BrazeFatalError` with `resumeAfterInMs`): `paused`, with
 *   the record's `resumeNotBefore` set and the continuation delayed until then; a message that arrives earlier is
 *   put back (`waiting`), so no step starts before it, whichever message comes.
 * - a message of another deployment sharing the queue name (`foreign`): a copy is queued for its owner, never
 *   deleted as an unknown run (see `passOnForeignMessage`).
 */
export async function processRunMessage(
  deps: RunServiceDeps,
  message: unknown,
  executor: RunExecutor,
  options: ProcessRunOptions,
): Promise<ProcessRunResult> {
  const { stateContainer, logger } = deps;
  const parsed = parseRunMessage(message);
  if (!parsed) {
    logger.log('warn', 'run message ignored: it names no valid run id');
    return { kind: 'skipped', reason: 'the message names no valid run id' };
  }
  if (isForeignMessage(parsed, stateContainer)) {
    await passOnForeignMessage(deps.queue, parsed);
    logger.log('warn', 'run message of another deployment passed on: the queue name is shared', {
      deployment: parsed.deployment,
    });
    return { kind: 'foreign' };
  }
  const { runId } = parsed;
  const existing = await getRun(stateContainer, runId);
  if (!existing) {
    logger.log('warn', 'run message ignored: unknown run', { runId });
    return { kind: 'skipped', reason: `run ${runId} not found` };
  }
  if (TERMINAL_STATUSES.has(existing.status)) {
    logger.log('info', 'run message ignored: the run has finished', { runId, status: existing.status });
    return { kind: 'skipped', reason: `run ${runId} is ${existing.status}` };
  }
  const waitInSeconds = secondsUntil(existing.resumeNotBefore, deps.clock ?? Date.now);
  if (waitInSeconds > 0) {
    await enqueueRun(deps.queue, ownMessage(deps, runId), { delayInSeconds: waitInSeconds });
    logger.log('info', 'run waits as Braze asked; message requeued', { runId, retryInSeconds: waitInSeconds });
    return { kind: 'waiting', runId, retryInSeconds: waitInSeconds };
  }

  const leaseDurationInSeconds = options.leaseDurationInSeconds ?? DEFAULT_LEASE_DURATION_IN_SECONDS;
  const leased = await withRunLease(stateContainer, { leaseDurationInSeconds, logger }, (leaseSignal) =>
    executeStep(deps, runId, executor, options, leaseSignal),
  );
  if (!leased.acquired) {
    const retryInSeconds = leaseDurationInSeconds + 5;
    await enqueueRun(deps.queue, ownMessage(deps, runId), { delayInSeconds: retryInSeconds });
    logger.log('info', 'run lease held by another worker; message requeued', { runId, retryInSeconds });
    return { kind: 'busy', runId, retryInSeconds };
  }
  if (leased.value.kind === 'paused') {
    const delayInSeconds = secondsUntil(leased.value.record.resumeNotBefore, deps.clock ?? Date.now);
    await enqueueRun(deps.queue, ownMessage(deps, runId), { delayInSeconds: delayInSeconds || undefined });
  }
  return leased.value;
}

/** Whole seconds from now until an ISO time (0 when absent or past). */
function secondsUntil(isoTime: string | undefined, clock: () => number): number {
  if (isoTime === undefined) return 0;
  return Math.max(0, Math.ceil((Date.parse(isoTime) - clock()) / 1000));
}

async function executeStep(
  deps: RunServiceDeps,
  runId: string,
  executor: RunExecutor,
  options: ProcessRunOptions,
  leaseSignal: AbortSignal,
): Promise<ProcessRunResult> {
  const { stateContainer, logger } = deps;
  const clock = deps.clock ?? Date.now;
  // Re-read under the lease: the previous holder may have finished the run since the check above.
  const record = await updateRun(
    stateContainer,
    runId,
    (current) =>
      TERMINAL_STATUSES.has(current.status)
        ? null
        : {
            ...current,
            status: 'running',
            startedAt: current.startedAt ?? new Date(clock()).toISOString(),
            invocations: current.invocations + 1,
            outcome: undefined,
          },
    clock,
  );
  if (TERMINAL_STATUSES.has(record.status)) return { kind: 'skipped', reason: `run ${runId} is ${record.status}` };
  logger.log('info', 'run step started', { runId, invocation: record.invocations });

  const stop = options.stopSignal;
  const signal = stop ? AbortSignal.any([leaseSignal, stop]) : leaseSignal;
  const progress = throttledProgressWriter(deps, runId, options.progressIntervalInMs ?? 5000, record.progress);
  let outcome;
  try {
    outcome = await executor({
      runId,
      request: record.request,
      deadline: clock() + options.timeBudgetInMs,
      signal,
      logger,
      onProgress: progress.report,
    });
  } catch (error) {
    await progress.flushed();
    // A lost lease means another worker may own the run now: this one writes nothing more.
    if (leaseSignal.aborted) {
      logger.log('warn', 'run step stopped: the lease was lost', { runId, error: safeMessage(leaseSignal.reason) });
      throw leaseSignal.reason;
    }
    if (stop?.aborted) {
      const interrupted = await markInterrupted(deps, runId, 'interrupted by the operator', progress.latest());
      logger.log('warn', 'run interrupted; the next run resumes it', { runId });
      return { kind: 'interrupted', record: interrupted };
    }
    const retryable = isRetryable(error);
    if (error instanceof ResumeLaterError || (retryable && options.interruptOnRetryableFailure)) {
      const interrupted = await markInterrupted(deps, runId, safeMessage(error), progress.latest());
      logger.log('warn', 'run stopped; it resumes from its checkpoint at the next start', {
        runId,
        error: interrupted.error,
      });
      return { kind: 'interrupted', record: interrupted };
    }
    const resumeAfterInMs = error instanceof BrazeFatalError ? error.resumeAfterInMs : undefined;
    if (retryable && resumeAfterInMs !== undefined) {
      // Braze asked for a wait longer than the retry budget: a paused step that resumes after it, not a failure
      // the queue would retry at once.
      const resumeNotBefore = new Date(clock() + resumeAfterInMs).toISOString();
      const waiting = await updateRun(
        stateContainer,
        runId,
        (current) => ({ ...current, lastError: safeMessage(error), resumeNotBefore }),
        clock,
      );
      logger.log('warn', 'run step stopped: Braze asked to wait', {
        runId,
        resumeNotBefore,
        error: safeMessage(error),
      });
      return { kind: 'paused', record: waiting };
    }
    if (retryable) {
      await updateRun(stateContainer, runId, (current) => ({ ...current, lastError: safeMessage(error) }), clock);
      logger.log('warn', 'run step failed; the message will be retried', { runId, error: safeMessage(error) });
      throw error;
    }
    const failed = await markFailed(deps, runId, safeMessage(error), { progress: progress.latest() });
    logger.log('error', 'run failed', { runId, error: failed.error });
    return { kind: 'failed', record: failed };
  }
  await progress.flushed();

  if (outcome.kind === 'paused') {
    const paused = await updateRun(
      stateContainer,
      runId,
      (current) => ({ ...current, progress: outcome.progress, lastError: undefined, resumeNotBefore: undefined }),
      clock,
    );
    logger.log('info', 'run paused; continuing in a new message', { runId, rowsRead: outcome.progress.rowsRead });
    return { kind: 'paused', record: paused };
  }

  const status: RunStatus =
    outcome.summary.status === 'held' || outcome.summary.status === 'failed' ? outcome.summary.status : 'succeeded';
  const finishedAt = new Date(clock()).toISOString();
  const finished = await updateRun(
    stateContainer,
    runId,
    (current) => ({
      ...current,
      status,
      outcome: runOutcome(status, outcome.summary),
      summary: outcome.summary,
      progress: finalProgress(outcome.summary.profilesRead, outcome.summary.objectsSent, finishedAt),
      finishedAt,
      error: undefined,
      lastError: undefined,
      resumeNotBefore: undefined,
    }),
    clock,
  );
  await clearActiveRun(stateContainer, runId);
  logRunMetrics(logger, outcome.summary);
  return { kind: 'completed', record: finished };
}

/**
 * Writes the executor's progress to the record at most once per interval, in the background and in order;
 * the newest report wins. A failed write is logged and does not disturb the run.
 */
function throttledProgressWriter(
  deps: RunServiceDeps,
  runId: string,
  intervalInMs: number,
  before: RunProgress | undefined,
) {
  const clock = deps.clock ?? Date.now;
  let latest: RunProgress | null = null;
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  let writes: Promise<unknown> = Promise.resolve();
  return {
    report(progress: RunProgress): void {
      latest = progress;
      if (clock() - lastWriteAt < intervalInMs) return;
      lastWriteAt = clock();
      writes = writes
        .then(() => updateRun(deps.stateContainer, runId, (current) => ({ ...current, progress: latest! }), clock))
        .catch((error: unknown) => {
          deps.logger.log('warn', 'could not write run progress', { runId, error: safeMessage(error) });
        });
    },
    flushed: () => writes,
    /** The newest progress reported by this step, else the record's: how far the run got. */
    latest: (): RunProgress | undefined => latest ?? before,
  };
}
