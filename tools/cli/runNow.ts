import type { App } from '../../shared/run/app';
import { getRun } from '../../shared/run/records';
import { startRun } from '../../shared/run/service';
import type { RunExecutor, RunRecord, RunRequest } from '../../shared/run/types';
import type { Logger } from '../../shared/telemetry/logger';
import { runQueueWorker } from '../worker/worker';
import type { ProgressReporter } from './progress';

export class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
  constructor(readonly activeRunId: string) {
    super(`another run is active: ${activeRunId}; wait for it, or see \`ci-braze-export status ${activeRunId}\``);
  }
}

/**
 * Starts a run the way the HTTP endpoint does (run record, admission, queue message), then works the run queue
 * in this process with the local queue worker, continuation after continuation, until the run has finished.
 * Without a Functions host this is the worker; with one also running, whichever takes a message works that step.
 */
export async function runNow(
  app: App,
  request: RunRequest,
  logger: Logger,
  progress?: ProgressReporter,
): Promise<RunRecord> {
  try {
    return await workRun(app, request, logger, progress);
  } finally {
    progress?.done();
  }
}

async function workRun(app: App, request: RunRequest, logger: Logger, progress?: ProgressReporter) {
  const deps = app.serviceDeps(logger);
  const started = await startRun(deps, request);
  if (started.kind === 'conflict') throw new RunConflictError(started.activeRunId);
  const executor: RunExecutor = progress
    ? (input) =>
        app.executor({
          ...input,
          onProgress: (update) => {
            input.onProgress?.(update);
            progress.onProgress(update);
          },
        })
    : app.executor;
  // The queue holds this run's messages only (one run at a time): work it until it is empty.
  await runQueueWorker({
    deps,
    executor,
    timeBudgetInMs: app.settings.runTimeBudgetInMs,
    once: true,
    visibilityTimeoutInSeconds: RETRY_AFTER_FAILURE_IN_SECONDS,
    pollIntervalInMs: 250,
  });
  const record = await getRun(app.stateContainer, started.record.runId);
  if (!record) throw new Error(`run ${started.record.runId} has no record`);
  return record;
}

/** A step that failed with a retryable error is retried after this long (its message's visibility timeout). */
const RETRY_AFTER_FAILURE_IN_SECONDS = 10;
