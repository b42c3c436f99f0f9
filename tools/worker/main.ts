/**
 * Local run worker: `node dist/tools/worker/main.js [--once] [--visibility-timeout-seconds N]
 * [--lease-duration-seconds N]`, with the app settings in the environment. It does what the `runWorker` function
 * does in Azure, for the CLI, the demo and the crash test.
 */
import { createApp } from '../../shared/run/app';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { parseWorkerArgs, WORKER_USAGE } from './options';
import { runQueueWorker } from './worker';

async function main(): Promise<void> {
  let args: ReturnType<typeof parseWorkerArgs>;
  try {
    args = parseWorkerArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${WORKER_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const logger = createStreamLogger();
  const app = await createApp(process.env);
  const stop = new AbortController();
  // Finish the current message, then exit: the run step itself pauses at its deadline.
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const stats = await runQueueWorker({
    deps: app.serviceDeps(logger),
    executor: app.executor,
    timeBudgetInMs: app.settings.runTimeBudgetInMs,
    ...args,
    signal: stop.signal,
  });
  logger.log('info', 'worker stopped', { ...stats });
}

main().catch((error: unknown) => {
  console.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
