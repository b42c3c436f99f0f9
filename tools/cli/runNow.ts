import type { App } from '../../shared/run/app';
import { getRun, TERMINAL_STATUSES } from '../../shared/run/records';
import { markPoisoned, processRunMessage, startRun } from '../../shared/run/service';
import type { RunExecutor, RunRecord, RunRequest } from '../../shared/run/types';
import type { Logger } from '../../shared/telemetry/logger';
import type { ProgressReporter } from './progress';

export class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
  constructor(readonly activeRunId: string) {
    super(`another run is active: ${activeRunId}; wait for it, or see \`ci-braze-export status ${activeRunId}\``);
  }
}

/**
 * Starts a run the way the HTTP endpoint does (run record, admission, queue message), then works the run queue
 * in this process, continuation after continuation, until the run has finished. Without a Functions host this
 * is the worker; with one also running, whichever takes a message works that step.
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
  const runId = started.record.runId;
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
  const visibilityTimeout = Math.ceil(app.settings.runTimeBudgetInMs / 1000) + 60;
  for (;;) {
    const record = await getRun(app.stateContainer, runId);
    if (record && TERMINAL_STATUSES.has(record.status)) return record;
    const received = await app.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout });
    const message = received.receivedMessageItems[0];
    if (!message) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    try {
      await processRunMessage(deps, message.messageText, executor, {
        timeBudgetInMs: app.settings.runTimeBudgetInMs,
      });
    } catch (error) {
      // A retryable failure (Braze unavailable, lease lost): try again shortly, as the Functions host would,
      // and give up as the poison queue would.
      const reason = error instanceof Error ? error.message : String(error);
      if (message.dequeueCount < MAX_ATTEMPTS) {
        logger.log('warn', 'run step failed; retrying', { runId, attempt: message.dequeueCount, error: reason });
        await app.queue.updateMessage(message.messageId, message.popReceipt, undefined, RETRY_DELAY_IN_SECONDS);
        continue;
      }
      await markPoisoned(deps, message.messageText, `gave up after ${MAX_ATTEMPTS} attempts: ${reason}`);
    }
    await app.queue.deleteMessage(message.messageId, message.popReceipt);
  }
}

/** The same as host.json's `maxDequeueCount`. */
const MAX_ATTEMPTS = 5;
const RETRY_DELAY_IN_SECONDS = 5;
