import type { Logger } from '../telemetry/logger';

/** Run states (design §6). `held`: completed, but removals of a shrunken segment were held back by the safety guard. */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'held';

export type RunTrigger = 'http' | 'timer' | 'cli' | 'demo';

/** What was asked for: the body of `POST /api/exports/runs`, or the CLI flags. */
export interface RunRequest {
  /** Segment tables or Braze segment API ids to run; all configured segments when absent. */
  segments?: string[];
  dryRun: boolean;
  fullResync: boolean;
  /** Lets removals through although a segment shrank more than the guard allows. */
  allowMassRemoval: boolean;
  trigger: RunTrigger;
}

/** Counters of a run. They add up: every input row is sent, unchanged, skipped or rejected. */
export interface RunCounters {
  profilesRead: number;
  /** Rows that repeated a user already read in the same segment (projected attributes). */
  duplicateRows: number;
  usersSent: number;
  objectsSent: number;
  attributesSent: number;
  /** What a naive full resend would have sent: every mapped attribute and membership of every row. */
  attributesFullResend: number;
  membershipsAdded: number;
  membershipsRemoved: number;
  /** Objects of the removal phase (one per user who left covered segments): not rows of the export. */
  removalObjectsSent: number;
  membershipsRemovalHeld: number;
  unchanged: number;
  skipped: number;
  rejected: number;
  sourceRowsRejected: number;
  /** Rows delivered without their email, which Braze would refuse (each has a line in rejected.ndjson). */
  emailsRejected: number;
  /** Braze identity changes made (`/users/identify`, `/users/external_ids/rename`, `/users/merge`). */
  identified: number;
  renamed: number;
  merged: number;
  requests: number;
  retries: number;
  throttled: number;
}

export interface RunSummary extends RunCounters {
  runId: string;
  status: RunStatus;
  dryRun: boolean;
  fullResync: boolean;
  /** The export's fingerprint (ExportDescriptor.fingerprint) and metadata blob. */
  exportFingerprint: string;
  exportMetadataBlob: string;
  /** True when the export had already been synced completely and nothing was read. */
  alreadySynced: boolean;
  segments: Array<{
    table: string;
    brazeSegmentApiId: string;
    members: number;
    added: number;
    removed: number;
    removalsHeld: number;
    heldReason?: string;
  }>;
  skippedReasons: Record<string, number>;
  rejectedReasons: Record<string, number>;
  /** Progress samples of this invocation (every checkpoint interval), for throughput-over-time charts. */
  timeline: TimelineSample[];
  /** Where this invocation's time went, in milliseconds (see `PhaseTimes`). */
  phaseMs: PhaseTimes;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

/**
 * Milliseconds of one invocation per phase: `starting` (discovery, checkpoint, previous snapshot), `reading` (rows
 * read, mapped, compared and sent), `removals` (leavers sent, and every answer awaited), `committing` (the new
 * snapshot written).
 */
export interface PhaseTimes {
  starting: number;
  reading: number;
  removals: number;
  committing: number;
}

export interface TimelineSample {
  /** Milliseconds since the step started. */
  atMs: number;
  rowsRead: number;
  objectsSent: number;
  requests: number;
  throttled: number;
  retries: number;
}

export interface RunProgress {
  phase: 'reading' | 'removals' | 'committing';
  rowsRead: number;
  objectsSent: number;
  updatedAt: string;
}

/** The record of one run, stored as `runs/<runId>/record.json` in the state container. */
export interface RunRecord {
  runId: string;
  status: RunStatus;
  request: RunRequest;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
  /** Worker invocations that worked on the run (continuations and retries after crashes included). */
  invocations: number;
  progress?: RunProgress;
  summary?: RunSummary;
  /** Why the run failed: a message with no secrets or personal data. */
  error?: string;
  /** The last retryable error of a run that is still being retried (same rules as `error`). */
  lastError?: string;
}

/** Outcome of one worker invocation of a run. */
export type RunStepOutcome =
  | { kind: 'completed'; summary: RunSummary }
  /** The time budget was spent; a checkpoint was saved; the caller continues the run in a new invocation. */
  | { kind: 'paused'; progress: RunProgress };

/**
 * Executes (or resumes from its own checkpoint) one run until it completes or `deadline` (epoch ms) passes.
 * Throws on failure (the error's message is safe to store). Stops early, saving a checkpoint, when `signal` aborts.
 */
export type RunExecutor = (input: {
  runId: string;
  request: RunRequest;
  deadline: number;
  signal?: AbortSignal;
  logger: Logger;
  onProgress?: (progress: RunProgress) => void;
}) => Promise<RunStepOutcome>;
