import { writeRunReport } from '../report/runReport';
import { scrubSecrets } from '../telemetry/scrub';
import { loadCheckpoint, writeRunResults } from './artifacts';
import { clearActiveRun } from './lock';
import { partialSummary } from './outcome';
import { isForeignMessage, parseRunMessage } from './queue';
import { getRun, TERMINAL_STATUSES, updateRun } from './records';
import type { RunServiceDeps } from './serviceDeps';
import type { RunProgress, RunRecord } from './types';

export function finalProgress(rowsRead: number, objectsSent: number, updatedAt: string): RunProgress {
  return { phase: 'finished', rowsRead, objectsSent, updatedAt };
}

/** Marks a run that the queue gave up on (its message reached the poison queue) as failed. */
export async function markPoisoned(deps: RunServiceDeps, message: unknown, reason: string): Promise<RunRecord | null> {
  const parsed = parseRunMessage(message);
  if (!parsed) {
    deps.logger.log('warn', 'poison message ignored: it names no valid run id');
    return null;
  }
  if (isForeignMessage(parsed, deps.stateContainer)) {
    deps.logger.log('warn', 'poison message of another deployment ignored', { deployment: parsed.deployment });
    return null;
  }
  const record = await getRun(deps.stateContainer, parsed.runId);
  if (!record) {
    deps.logger.log('warn', 'poison message ignored: unknown run', { runId: parsed.runId });
    return null;
  }
  const failed = await markFailed(deps, parsed.runId, reason, { withLastError: true });
  deps.logger.log('error', 'run failed: its message was poisoned', { runId: parsed.runId, error: failed.error });
  return failed;
}

/**
 * Marks the run failed (unless it already finished), writes its summary and report (the error, and how far it got)
 * and frees admission.
 */
export async function markFailed(
  deps: RunServiceDeps,
  runId: string,
  reason: string,
  options: { withLastError?: boolean; progress?: RunProgress } = {},
): Promise<RunRecord> {
  const reasonFor = (current: RunRecord) =>
    options.withLastError && current.lastError ? `${reason}; last error: ${current.lastError}` : reason;
  return endUnfinished(deps, runId, 'failed', reasonFor, options.progress);
}

/** Marks the run interrupted (checkpoint saved, resumable); it keeps admission, so the next start resumes it. */
export async function markInterrupted(
  deps: RunServiceDeps,
  runId: string,
  reason: string,
  progress: RunProgress | undefined,
): Promise<RunRecord> {
  return endUnfinished(deps, runId, 'interrupted', () => reason, progress);
}

async function endUnfinished(
  deps: RunServiceDeps,
  runId: string,
  status: 'failed' | 'interrupted',
  reasonFor: (current: RunRecord) => string,
  progress: RunProgress | undefined,
): Promise<RunRecord> {
  const clock = deps.clock ?? Date.now;
  const checkpoint = await loadCheckpoint(deps.stateContainer, runId).catch(() => null);
  const record = await updateRun(
    deps.stateContainer,
    runId,
    (current) => {
      if (TERMINAL_STATUSES.has(current.status)) return null;
      const at = new Date(clock()).toISOString();
      const reached = progress ?? current.progress;
      const next: RunRecord = {
        ...current,
        status,
        outcome: status,
        error: reasonFor(current),
        lastError: undefined,
        progress: finalProgress(reached?.rowsRead ?? 0, reached?.objectsSent ?? 0, at),
        finishedAt: status === 'failed' ? at : undefined,
      };
      return { ...next, summary: partialSummary(next, checkpoint, at) };
    },
    clock,
  );
  if (record.status !== status) return record;
  if (status === 'failed') await clearActiveRun(deps.stateContainer, runId);
  // Every run that started leaves a summary and a report, failed and interrupted ones included.
  if (record.summary) {
    await Promise.all([
      writeRunResults(deps.stateContainer, record.summary, [], null),
      writeRunReport(deps.stateContainer, record.summary, []),
    ]).catch((error: unknown) => {
      deps.logger.log('warn', 'could not write the summary of an unfinished run', { runId, error: safeMessage(error) });
    });
  }
  return record;
}

const MAX_ERROR_LENGTH = 2000;

export function safeMessage(error: unknown): string {
  const text = scrubSecrets(error instanceof Error ? error.message : String(error));
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}
