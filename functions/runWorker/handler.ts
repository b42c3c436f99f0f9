import type { InvocationContext } from '@azure/functions';
import { processRunMessage, ProcessRunResult } from '../../shared/run/service';
import { AppDependencies, appDependencies, contextLogger, serviceDeps } from '../dependencies';

/**
 * Queue trigger on `%RUN_QUEUE_NAME%`: one step of a run under the time budget. A retryable failure is rethrown,
 * so the host delivers the message again after `visibilityTimeout` and poisons it after `maxDequeueCount`.
 */
export async function runWorker(
  message: unknown,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<ProcessRunResult> {
  const logger = contextLogger(context);
  const deps = given ?? (await appDependencies());
  const result = await processRunMessage(serviceDeps(deps, logger), message, deps.executor, {
    timeBudgetInMs: deps.settings.runTimeBudgetInMs,
  });
  logger.log('info', 'run message processed', {
    outcome: result.kind,
    dequeueCount: Number(context.triggerMetadata?.dequeueCount ?? 0) || null,
  });
  return result;
}
