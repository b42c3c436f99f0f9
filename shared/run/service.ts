import { clearActiveRun, claimActiveRun } from './lock';
import { enqueueRun } from './queue';
import { createRun, getRun, newRunId } from './records';
import { markFailed, safeMessage } from './runEndings';
import { ownMessage, type RunServiceDeps } from './serviceDeps';
import type { RunRecord, RunRequest } from './types';

export type { RunServiceDeps } from './serviceDeps';
export { processRunMessage, type ProcessRunOptions, type ProcessRunResult } from './processRun';
export { markPoisoned } from './runEndings';

export type StartRunResult =
  | { kind: 'started'; record: RunRecord }
  /** The active run had been interrupted: it was queued again to resume (this request's options do not apply). */
  | { kind: 'resumed'; record: RunRecord }
  | { kind: 'conflict'; activeRunId: string };

/**
 * Admits a new run if none is active, records it as `queued` and hands it to the worker queue. An interrupted run
 * still holds admission: it is resumed instead (queued again from its checkpoint), or with `abandonInterrupted`
 * marked failed so that this run can start.
 */
export async function startRun(
  deps: RunServiceDeps,
  request: RunRequest,
  options: { abandonInterrupted?: boolean } = {},
): Promise<StartRunResult> {
  const clock = deps.clock ?? Date.now;
  const runId = newRunId(clock());
  const claim = await claimActiveRun(deps.stateContainer, runId, clock);
  if (!claim.claimed) {
    const active = await getRun(deps.stateContainer, claim.activeRunId).catch(() => null);
    if (active?.status === 'interrupted') {
      if (options.abandonInterrupted) {
        await abandonRun(deps, active.runId);
        return startRun(deps, request, { abandonInterrupted: false });
      }
      return { kind: 'resumed', record: await resumeRun(deps, active.runId) };
    }
    deps.logger.log('info', 'run not started: another run is active', {
      activeRunId: claim.activeRunId,
      trigger: request.trigger,
    });
    return { kind: 'conflict', activeRunId: claim.activeRunId };
  }
  let record: RunRecord | null = null;
  try {
    record = await createRun(deps.stateContainer, { request, clock, runId });
    await enqueueRun(deps.queue, ownMessage(deps, runId));
  } catch (error) {
    // Without its message the run would block admission until someone noticed; give the slot back.
    if (record) await markFailed(deps, runId, `could not queue the run: ${safeMessage(error)}`).catch(() => null);
    await clearActiveRun(deps.stateContainer, runId).catch(() => null);
    throw error;
  }
  deps.logger.log('info', 'run queued', { runId, trigger: request.trigger, dryRun: request.dryRun });
  return { kind: 'started', record };
}

/**
 * Takes over an unfinished run (its worker gone, or it was interrupted): queues a message for it, so the next worker
 * resumes it from its checkpoint. A duplicate message is harmless (skipped once the run finished).
 */
export async function resumeRun(deps: RunServiceDeps, runId: string): Promise<RunRecord> {
  const record = await getRun(deps.stateContainer, runId);
  if (!record) throw new Error(`run ${runId} not found`);
  await enqueueRun(deps.queue, ownMessage(deps, runId));
  deps.logger.log('info', 'run queued to resume', { runId, status: record.status });
  return record;
}

/** Gives up an unfinished run on the operator's word: marked failed (summary and report written), admission freed. */
export async function abandonRun(deps: RunServiceDeps, runId: string): Promise<RunRecord> {
  const record = await markFailed(deps, runId, 'abandoned by the operator before it finished');
  deps.logger.log('warn', 'run abandoned', { runId });
  return record;
}
