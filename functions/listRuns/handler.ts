import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { listRuns as readRecentRuns } from '../../shared/run/records';
import type { AppDependencies } from '../dependencies';
import { badRequest, json, withDependencies } from '../http';

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/** `GET /api/exports/runs?limit=N`: the most recent runs, newest first. */
export async function listRuns(
  request: HttpRequest,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<HttpResponseInit> {
  const raw = request.query.get('limit');
  const limit = raw === null ? DEFAULT_LIST_LIMIT : /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
    return badRequest(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  return withDependencies(context, given, async (deps) =>
    json(200, { runs: await readRecentRuns(deps.stateContainer, limit) }),
  );
}
