import { describeError } from '../../shared/telemetry/describeError';
import { markPoisoned, processRunMessage, RunServiceDeps } from '../../shared/run/service';
import type { RunExecutor } from '../../shared/run/types';

export interface QueueWorkerOptions {
  deps: RunServiceDeps;
  executor: RunExecutor;
  timeBudgetInMs: number;
  /** How long a received message stays hidden; after a crash it reappears this much later. Default 60. */
  visibilityTimeoutInSeconds?: number;
  /** Return once the queue holds no message at all, visible or delayed. */
  once?: boolean;
  /** Deliveries before a message counts as poisoned, like the host's `maxDequeueCount`. Default 5. */
  maxDequeueCount?: number;
  leaseDurationInSeconds?: number;
  /** Wait between polls of an empty queue. Default 1,000. */
  pollIntervalInMs?: number;
  /** Stops the loop between messages. */
  signal?: AbortSignal;
  /** Stops the run step under way (checkpoint saved, run `interrupted`) and then the loop: the CLI's Ctrl-C. */
  stopRunSignal?: AbortSignal;
  /**
   * A retryable failure makes the run `interrupted` (resumed by the next start) instead of leaving the message for
   * redelivery, and the loop stops: for the CLI, where no host delivers the message again later.
   */
  interruptOnRetryableFailure?: boolean;
}

export interface QueueWorkerStats {
  messages: number;
  failures: number;
  poisoned: number;
}

/**
 * The Functions host's queue trigger, locally: receive one run message at a time, keep it hidden while the run
 * step works, delete it when the step returns, leave it for redelivery when the step throws, and treat it as
 * poisoned after `maxDequeueCount` deliveries.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<QueueWorkerStats> {
  const { deps, signal } = options;
  const visibilityTimeout = options.visibilityTimeoutInSeconds ?? 60;
  const maxDequeueCount = options.maxDequeueCount ?? 5;
  const stats: QueueWorkerStats = { messages: 0, failures: 0, poisoned: 0 };

  while (!signal?.aborted && !options.stopRunSignal?.aborted) {
    const { receivedMessageItems } = await deps.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout });
    const item = receivedMessageItems[0];
    if (!item) {
      if (options.once && ((await deps.queue.getProperties()).approximateMessagesCount ?? 0) === 0) break;
      await sleep(options.pollIntervalInMs ?? 1000, signal);
      continue;
    }
    stats.messages++;
    if (item.dequeueCount > maxDequeueCount) {
      await markPoisoned(deps, item.messageText, `the run message failed ${maxDequeueCount} times`);
      await deps.queue.deleteMessage(item.messageId, item.popReceipt);
      stats.poisoned++;
      continue;
    }

    const hidden = keepHidden(deps, item.messageId, item.popReceipt, visibilityTimeout);
    try {
      const result = await processRunMessage(deps, item.messageText, options.executor, {
        timeBudgetInMs: options.timeBudgetInMs,
        leaseDurationInSeconds: options.leaseDurationInSeconds,
        stopSignal: options.stopRunSignal,
        interruptOnRetryableFailure: options.interruptOnRetryableFailure,
      });
      deps.logger.log('info', 'run message processed', { outcome: result.kind });
      await deps.queue.deleteMessage(item.messageId, await hidden.stop());
      // The run waits for the next start; a duplicate message must not resume it at once.
      if (result.kind === 'interrupted') break;
    } catch (error) {
      await hidden.stop();
      stats.failures++;
      deps.logger.log('warn', 'run message failed; it will be delivered again', {
        ...describeError(error),
        dequeueCount: item.dequeueCount,
      });
    }
  }
  return stats;
}

/** Extends the message's invisibility at half its timeout; `stop` returns the current pop receipt. */
function keepHidden(deps: RunServiceDeps, messageId: string, popReceipt: string, visibilityTimeout: number) {
  let receipt = popReceipt;
  let extending: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      extending = extending.then(async () => {
        try {
          receipt = (await deps.queue.updateMessage(messageId, receipt, undefined, visibilityTimeout)).popReceipt!;
        } catch (error) {
          deps.logger.log('warn', 'could not extend the run message visibility', describeError(error));
        }
      });
    },
    (visibilityTimeout * 1000) / 2,
  );
  return {
    async stop(): Promise<string> {
      clearInterval(timer);
      await extending;
      return receipt;
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
