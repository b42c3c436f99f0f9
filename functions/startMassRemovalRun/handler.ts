import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AppDependencies } from '../dependencies';
import { admitRun } from '../startExport/handler';

/**
 * `POST /api/exports/mass-removal-runs` (master key): a run that lets removals through although a segment shrank
 * past the guard. Same body as `POST /api/exports/runs`; allowMassRemoval is implied.
 */
export async function startMassRemovalRun(
  request: HttpRequest,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<HttpResponseInit> {
  return admitRun(request, context, given, 'master');
}
