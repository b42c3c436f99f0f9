import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getRun as readRun, isValidRunId } from '../../shared/run/records';
import type { AppDependencies } from '../dependencies';
import { badRequest, json, withDependencies } from '../http';

/** `GET /api/exports/runs/{runId}`: the run's record (status, progress, summary). */
export async function getRun(
  request: HttpRequest,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<HttpResponseInit> {
  const runId = request.params.runId;
  // Checked before any storage access: only ids of the exact generated form ever become blob names.
  if (!isValidRunId(runId)) return badRequest('runId must look like 20261128T121500Z-1a2b3c4d');
  return withDependencies(context, given, async (deps) => {
    const record = await readRun(deps.stateContainer, runId);
    return record ? json(200, record) : json(404, { error: `run ${runId} not found` });
  });
}
