import type { StateChange } from '../state/mappingChange';
import type { Logger } from '../telemetry/logger';

/**
 * Run states (design §6). `held`: completed, but removals of a shrunken segment were held back by the safety guard.
 * `interrupted`: stopped before finishing (Ctrl-C, or retries spent under a max retry time) with its checkpoint saved
 * and its lease released; the next run resumes it.
 */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'held' | 'interrupted';

/**
 * How a run ended, the same in the CLI's exit code, the HTTP API (record) and the summary (see `outcome.ts`):
 * `succeededWithRejections` is a completed run of which Braze or the reader refused rows.
 */
export type RunOutcome = 'succeeded' | 'succeededWithRejections' | 'held' | 'failed' | 'interrupted';

export type RunTrigger = 'http' | 'timer' | 'cli' | 'demo';

/** What was asked for: the body of `POST /api/exports/runs`, or the CLI flags. */
export interface RunRequest {
  /** Segment tables or Braze segment API ids to run; all configured segments when absent. */
  segments?: string[];
  dryRun: boolean;
  fullResync: boolean;
  /** Lets removals through although a segment shrank more than the guard allows. */
  allowMassRemoval: boolean;
  /** Clears in Braze the values of attributes dropped from the export config (else they stay, and the plan says so). */
  removeUnmapped?: boolean;
  trigger: RunTrigger;
  /**
   * Who or what started the run, as far as the entry point authenticated it (shared/run/caller.ts): the HTTP
   * key level (`http:function-key`, `http:master-key`), `timer:scheduledExport`, `cli:<os user>`. Absent on
   * records written before callers were recorded.
   */
  caller?: string;
  /**
   * Fail fast when Braze is down: a request is retried this long at most, and when that is spent the run ends as
   * `interrupted` (resumable) instead of being retried by the queue. Default: RUN_MAX_RETRY_TIME_SECONDS, if set.
   */
  maxRetryTimeSeconds?: number;
}

/** Counters of a run. They add up: every input row is sent (alone or merged), unchanged, skipped or rejected. */
export interface RunCounters {
  profilesRead: number;
  /** Rows that repeated a user already read in the same segment (projected attributes). */
  duplicateRows: number;
  /**
   * Rows whose object went out merged into the same user's object of a later row (a full sync sends one object per
   * user). Absent in summaries written before issue 19.
   */
  rowsMerged?: number;
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
  /** RunRequest.caller: who or what started the run. */
  caller?: string;
  /** Always set by this version; absent from summaries written before it. */
  outcome?: RunOutcome;
  /** Why a failed or interrupted run stopped (no secrets or personal data); its counters tell how far it got. */
  error?: string;
  dryRun: boolean;
  fullResync: boolean;
  /** The export's fingerprint (ExportDescriptor.fingerprint) and metadata blob. */
  exportFingerprint: string;
  exportMetadataBlob: string;
  /** True when the export had already been synced completely and nothing was read. */
  alreadySynced: boolean;
  /** What the run started from: a fresh state, or the snapshot and what changed in the mapping since. */
  stateChange?: StateChange;
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
  /** Working time of every step of the run; the time it waited between steps (queue, Ctrl-C) is not counted. */
  durationMs: number;
  /** What was synced, with which config, started how: the report's context block. Absent in older summaries. */
  context?: RunContext;
}

export interface RunContext {
  /** Folders of the partitions read (CI writes one `<Table>/<yyyy>/<mm>/<dd>/<HHMM>` folder per export run). */
  exportFolders: string[];
  /** Hash of the export config and Braze endpoint: the state (snapshot) the run compared with. */
  configHash: string;
  /** A snapshot of an earlier sync was compared with (false on a first sync and a full resync). */
  comparedWithPreviousState: boolean;
  request: RunRequest;
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
  /** `finished`: the run has ended; the counts are its final ones. */
  phase: 'reading' | 'removals' | 'committing' | 'finished';
  rowsRead: number;
  objectsSent: number;
  /** Share of the run's partitions read, by bytes within a partition (0..1); absent before reading starts. */
  readFraction?: number;
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
  /** Set once the run has ended (or was interrupted): the same outcome as the summary's and the CLI's exit code. */
  outcome?: RunOutcome;
  /** Why the run failed: a message with no secrets or personal data. */
  error?: string;
  /** The last retryable error of a run that is still being retried (same rules as `error`). */
  lastError?: string;
  /** Braze asked to wait until then (ISO time): no step of the run starts before it. */
  resumeNotBefore?: string;
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
