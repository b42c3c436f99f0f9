import { AppError } from '../errors';
import type { Checkpoint } from './artifacts';
import type { RunCounters, RunOutcome, RunRecord, RunStatus, RunSummary } from './types';

/**
 * Exit codes of `ci-braze-export run` (documented in docs/operations.md and `--help`). Distinct per outcome, so a
 * cron job or CI pipeline can tell a held or partly rejected run from a clean one without parsing output.
 */
export const EXIT_CODES = {
  succeeded: 0,
  failed: 1,
  /** Bad flags, settings or export config: nothing was started. */
  invalidUsage: 2,
  held: 3,
  succeededWithRejections: 4,
  /** Stopped before finishing, checkpoint saved: the next `run` resumes it. */
  interrupted: 5,
  /** Another run holds the run lease and is alive: nothing was started. */
  busy: 6,
} as const satisfies Record<RunOutcome | 'invalidUsage' | 'busy', number>;

/** The outcome of a run that ended with `status` and (when it completed) `summary`'s counts. */
export function runOutcome(status: RunStatus, counts?: Pick<RunSummary, 'rejected'>): RunOutcome | undefined {
  switch (status) {
    case 'succeeded':
      return (counts?.rejected ?? 0) > 0 ? 'succeededWithRejections' : 'succeeded';
    case 'held':
    case 'failed':
    case 'interrupted':
      return status;
    default:
      return undefined;
  }
}

/** The exit code for a run record's status and summary; a run still queued or running counts as interrupted. */
export function exitCodeOf(record: { status: RunStatus; summary?: Pick<RunSummary, 'rejected'> }): number {
  return EXIT_CODES[runOutcome(record.status, record.summary) ?? 'interrupted'];
}

/** Counters of a run that has read and sent nothing yet. */
export function emptyCounters(): RunCounters {
  return {
    profilesRead: 0,
    duplicateRows: 0,
    rowsMerged: 0,
    usersSent: 0,
    objectsSent: 0,
    attributesSent: 0,
    attributesFullResend: 0,
    membershipsAdded: 0,
    membershipsRemoved: 0,
    removalObjectsSent: 0,
    membershipsRemovalHeld: 0,
    unchanged: 0,
    skipped: 0,
    rejected: 0,
    sourceRowsRejected: 0,
    emailsRejected: 0,
    identified: 0,
    renamed: 0,
    merged: 0,
    requests: 0,
    retries: 0,
    throttled: 0,
  };
}

/**
 * The summary of a run that stopped before completing (failed or interrupted): the error and how far it got, from
 * its last progress and checkpoint. Counts it could not know stay 0.
 */
export function partialSummary(record: RunRecord, checkpoint: Checkpoint | null, finishedAt: string): RunSummary {
  const startedAt = checkpoint?.startedAt ?? record.startedAt ?? record.createdAt;
  return {
    runId: record.runId,
    status: record.status,
    outcome: runOutcome(record.status) ?? 'interrupted',
    error: record.error,
    dryRun: record.request.dryRun,
    fullResync: record.request.fullResync,
    exportFingerprint: checkpoint?.exportFingerprint ?? '',
    exportMetadataBlob: '',
    alreadySynced: false,
    ...emptyCounters(),
    profilesRead: record.progress?.rowsRead ?? 0,
    objectsSent: record.progress?.objectsSent ?? 0,
    requests: checkpoint?.delivery.requests ?? 0,
    retries: checkpoint?.delivery.retries ?? 0,
    throttled: checkpoint?.delivery.throttled ?? 0,
    segments: [],
    skippedReasons: {},
    rejectedReasons: {},
    timeline: [],
    phaseMs: { starting: 0, reading: 0, removals: 0, committing: 0 },
    startedAt,
    finishedAt,
    durationMs: checkpoint?.workedMs ?? Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)),
  };
}

/**
 * A step that must not be retried by the queue but may be resumed later: the run becomes `interrupted` (e.g. Braze
 * still failing when the run's max retry time is spent).
 */
export class ResumeLaterError extends AppError {
  readonly code = 'RESUME_LATER';
  readonly retryable = false;
}
