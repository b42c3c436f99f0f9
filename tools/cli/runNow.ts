import { AppError } from '../../shared/errors';
import type { App } from '../../shared/run/app';
import {
  breakRunLease,
  DEFAULT_LEASE_DURATION_IN_SECONDS,
  inspectRunLease,
  type RunLeaseHolder,
} from '../../shared/run/lock';
import { hostname } from 'node:os';
import { getRun, UNFINISHED_STATUSES } from '../../shared/run/records';
import { abandonRun, resumeRun, startRun, type RunServiceDeps } from '../../shared/run/service';
import type { RunExecutor, RunRecord, RunRequest } from '../../shared/run/types';
import type { Logger } from '../../shared/telemetry/logger';
import { runQueueWorker } from '../worker/worker';
import type { ProgressReporter } from './progress';

export class RunConflictError extends AppError {
  readonly code = 'RUN_CONFLICT';
  readonly retryable = false;
  constructor(readonly activeRunId: string) {
    super(
      `another run is active and its worker is alive: ${activeRunId}; wait for it, or see ` +
        `\`ci-braze-export status ${activeRunId}\``,
    );
  }
}

export interface RunNowOptions {
  progress?: ProgressReporter;
  /** Aborted on Ctrl-C: the run stops sending, saves its checkpoint and becomes `interrupted`. */
  stopSignal?: AbortSignal;
  /** Mark an unfinished run failed instead of resuming it, then start this one. */
  abandon?: boolean;
  /** Lines for the operator (which run is resumed, what is waited for). */
  notify?: (line: string) => void;
  /** How long to wait for another process's run lease to expire. Default: the lease duration plus 5 s. */
  leaseWaitInMs?: number;
}

/**
 * Starts a run the way the HTTP endpoint does (run record, admission, queue message), then works the run queue
 * in this process with the local queue worker, continuation after continuation, until the run has finished.
 * Without a Functions host this is the worker; with one also running, whichever takes a message works that step.
 *
 * An unfinished run never blocks: an interrupted one, or one whose worker is gone (its lease free, or held by a
 * dead process of this machine), is resumed first (or with `abandon` marked failed and a new run started).
 */
export async function runNow(
  app: App,
  request: RunRequest,
  logger: Logger,
  options: RunNowOptions = {},
): Promise<RunRecord> {
  let record: RunRecord | undefined;
  try {
    record = await workRun(app, request, logger, options);
    return record;
  } finally {
    // A failed or interrupted run's progress also reads `finished`: only a run that ran to its end shows 100 %.
    const ranToItsEnd = record?.status === 'succeeded' || record?.status === 'held';
    options.progress?.done(ranToItsEnd ? record?.progress : undefined);
  }
}

async function workRun(app: App, request: RunRequest, logger: Logger, options: RunNowOptions) {
  const deps = app.serviceDeps(logger);
  const runId = await admit(deps, app, request, options);
  const { progress } = options;
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
    stopRunSignal: options.stopSignal,
    // Nobody else would deliver the message again: a failure that may pass leaves the run for the next `run`.
    interruptOnRetryableFailure: true,
  });
  const record = await getRun(app.stateContainer, runId);
  if (!record) throw new Error(`run ${runId} has no record`);
  return record;
}

/** The run this invocation works: a new one, or the unfinished one that held admission. */
async function admit(deps: RunServiceDeps, app: App, request: RunRequest, options: RunNowOptions): Promise<string> {
  const notify = options.notify ?? (() => undefined);
  const started = await startRun(deps, request, { abandonInterrupted: options.abandon });
  if (started.kind === 'started') return started.record.runId;
  if (started.kind === 'resumed') {
    notify(
      `resuming interrupted run ${started.record.runId} (started ${started.record.createdAt}); --abandon gives it up`,
    );
    return started.record.runId;
  }
  const active = await getRun(app.stateContainer, started.activeRunId);
  if (!active || !UNFINISHED_STATUSES.has(active.status)) throw new RunConflictError(started.activeRunId);
  await waitForFreeLease(app, active.runId, options, notify);
  if (options.abandon) {
    await abandonRun(deps, active.runId);
    notify(`abandoned run ${active.runId}: marked failed`);
    return admit(deps, app, request, { ...options, abandon: false });
  }
  await resumeRun(deps, active.runId);
  notify(`taking over run ${active.runId} (its worker is gone); --abandon gives it up`);
  return active.runId;
}

/**
 * Returns once no live process holds the run lease. A holder on this machine whose process is gone (killed) has its
 * lease broken at once; another holder is waited for until its lease would have expired, then the run is busy.
 */
async function waitForFreeLease(
  app: App,
  runId: string,
  options: RunNowOptions,
  notify: (line: string) => void,
): Promise<void> {
  const waitInMs = options.leaseWaitInMs ?? (DEFAULT_LEASE_DURATION_IN_SECONDS + 5) * 1000;
  const until = Date.now() + waitInMs;
  let told = false;
  for (;;) {
    const lease = await inspectRunLease(app.stateContainer);
    if (!lease.held) return;
    if (lease.holder && isDeadLocalProcess(lease.holder)) {
      await breakRunLease(app.stateContainer);
      notify(`run ${runId}: the process that held its lease (pid ${lease.holder.pid}) is gone; lease broken`);
      return;
    }
    if (Date.now() >= until || options.stopSignal?.aborted) throw new RunConflictError(runId);
    if (!told) notify(`run ${runId} holds the run lease; waiting up to ${Math.round(waitInMs / 1000)} s for it`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function isDeadLocalProcess(holder: RunLeaseHolder): boolean {
  if (holder.host !== hostname() || holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists (another user's).
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Ctrl-C handling for `run`: the first stops the run gracefully (answers in flight awaited, checkpoint saved, lease
 * released, run `interrupted`); the second quits at once (the run then resumes from its last checkpoint).
 */
export function stopOnCtrlC(notify: (line: string) => void, quit: () => never): AbortSignal {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) {
      notify('second Ctrl-C: quitting now; the next run resumes from the last checkpoint');
      quit();
    }
    notify('stopping: waiting for the answers in flight and saving the checkpoint (Ctrl-C again to quit now)');
    controller.abort();
  });
  return controller.signal;
}

/** A step that failed with a retryable error is retried after this long (its message's visibility timeout). */
const RETRY_AFTER_FAILURE_IN_SECONDS = 10;
