import type { InvocationContext } from '@azure/functions';
import { markPoisoned } from '../../shared/run/service';
import type { RunRecord } from '../../shared/run/types';
import { AppDependencies, appDependencies, contextLogger, serviceDeps } from '../dependencies';

export const POISON_REASON = 'the run message failed on every delivery and was moved to the poison queue';

/** Queue trigger on `%RUN_QUEUE_NAME%-poison`: a run the host gave up on is marked failed, so admission is freed. */
export async function runPoison(
  message: unknown,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<RunRecord | null> {
  const deps = given ?? (await appDependencies());
  return markPoisoned(serviceDeps(deps, contextLogger(context)), message, POISON_REASON);
}
