import type { InvocationContext, Timer } from '@azure/functions';
import { timerCaller } from '../../shared/run/caller';
import { startRun } from '../../shared/run/service';
import { AppDependencies, appDependencies, contextLogger, serviceDeps } from '../dependencies';

/** Timer `%EXPORT_SCHEDULE%`: starts a run of every segment; while another run is active it does nothing. */
export async function scheduledExport(
  timer: Timer,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<void> {
  const logger = contextLogger(context);
  if (timer.isPastDue) logger.log('warn', 'scheduled export is running late');
  const deps = given ?? (await appDependencies());
  const caller = timerCaller(context.functionName);
  const result = await startRun(serviceDeps(deps, logger), {
    dryRun: false,
    fullResync: false,
    allowMassRemoval: false,
    trigger: 'timer',
    caller,
  });
  if (result.kind === 'conflict') {
    logger.log('info', 'scheduled export skipped: a run is already active', { activeRunId: result.activeRunId });
  }
}
