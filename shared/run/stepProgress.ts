import type { DeliveryStats } from '../braze/types';
import type { MappingChange } from '../state/mappingChange';
import type { ExportDescriptor } from '../source/types';
import { runContext } from '../report/runContext';
import type { Checkpoint, RejectedRow } from './artifacts';
import { emptyCounters, runOutcome } from './outcome';
import type { PipelineDependencies, RunInput } from './stepContext';
import type { PhaseTimes, RunProgress, RunRequest, RunSummary, TimelineSample } from './types';

/** How often (in rows, a power of two) `mustStop` reads the clock. */
const CLOCK_EVERY_ROWS = 64;

/** What progress reports read of the delivery: its statistics and the objects not yet in a checkpoint. */
export interface DeliveryGauges {
  readonly stats: DeliveryStats | undefined;
  readonly unrecordedCount: number;
}

/** A run step's counters, phases and progress reports, and the summary made of them. */
export class StepProgress {
  readonly counters = emptyCounters();
  readonly rejected: RejectedRow[] = [];
  private readonly skippedReasons: Record<string, number> = {};
  private readonly rejectedReasons: Record<string, number> = {};
  /** Per segment of the run's layout (`MappingChange.segmentIds`). */
  segmentAdded: number[] = [];
  segmentRemoved: number[] = [];
  segmentHeld: number[] = [];
  /** Partitions of the selected segments, those read, and the byte share of the one being read: progress. */
  readonly readProgress = { partitions: 0, done: 0, current: 0 };
  /** A snapshot of an earlier sync exists and is compared with (not a first sync, not a full resync). */
  comparedWithPreviousState = false;
  /** The export config's hash (exportConfigHash), shown in the report's context. */
  configHash = '';
  /** What changed in the mapping since the last run, once the snapshot's meta is read. */
  stateChange: MappingChange['change'] | undefined;
  /** The delivery, once there is one (not in a dry run). */
  gauges: DeliveryGauges | null = null;
  private readonly timeline: TimelineSample[] = [];
  private readonly phaseMs: PhaseTimes = { starting: 0, reading: 0, removals: 0, committing: 0 };
  /** The phase under way (progress reports `starting` as `reading`), timed since `phaseSinceMs`. */
  private phase: keyof PhaseTimes = 'starting';
  private phaseSinceMs: number;
  private lastProgressAt = 0;
  readonly stepStartedAtMs: number;

  constructor(
    private readonly deps: PipelineDependencies,
    private readonly input: RunInput,
    private readonly clock: () => number,
  ) {
    this.stepStartedAtMs = clock();
    this.phaseSinceMs = this.stepStartedAtMs;
  }

  /** Zeroes the per-segment counts for a layout of `segmentCount` segments. */
  startSegments(segmentCount: number): void {
    this.segmentAdded = new Array<number>(segmentCount).fill(0);
    this.segmentRemoved = new Array<number>(segmentCount).fill(0);
    this.segmentHeld = new Array<number>(segmentCount).fill(0);
  }

  skip(reason: string): void {
    this.counters.skipped++;
    this.skippedReasons[reason] = (this.skippedReasons[reason] ?? 0) + 1;
  }

  reject(seq: number, stage: RejectedRow['stage'], reason: string, where: Partial<RejectedRow>): void {
    this.counters.rejected++;
    this.rejectedReasons[reason] = (this.rejectedReasons[reason] ?? 0) + 1;
    this.rejected.push({ seq, stage, reason, ...where });
  }

  /**
   * True when the step must stop sending: the budget is spent or the run lock was lost. Synchronous, since it runs
   * for every row; reports progress every few seconds on the way.
   */
  mustStop(nextSeq: number, resumeFrom: number): boolean {
    if (this.input.signal?.aborted) return true;
    // The clock is read for a step's first rows and then every CLOCK_EVERY_ROWS rows: reading it per row costs
    // more than a delta's unchanged row, and a budget in seconds needs no finer grain.
    if ((nextSeq & (CLOCK_EVERY_ROWS - 1)) !== 0 && nextSeq > resumeFrom + 1) return false;
    const now = this.clock();
    // At least one row per step, so even a tiny budget makes progress.
    if (now >= this.input.deadline && nextSeq > resumeFrom) return true;
    if (now - this.lastProgressAt >= (this.deps.progressIntervalInMs ?? 2000)) {
      this.lastProgressAt = now;
      this.reportProgress();
    }
    return false;
  }

  /** Starts timing `phase` (and reports it as the run's phase). */
  enterPhase(phase: keyof PhaseTimes): void {
    const now = this.clock();
    this.phaseMs[this.phase] += now - this.phaseSinceMs;
    this.phase = phase;
    this.phaseSinceMs = now;
  }

  /** Working time of the run so far: its earlier steps' (from the checkpoint) and this one's. */
  workedMs(checkpoint: Checkpoint): number {
    return (checkpoint.workedMs ?? 0) + this.clock() - this.stepStartedAtMs;
  }

  progress(): RunProgress {
    return {
      phase: this.phase === 'starting' ? 'reading' : this.phase,
      rowsRead: this.counters.profilesRead,
      objectsSent: this.counters.objectsSent,
      ...(this.readProgress.partitions > 0 && {
        readFraction: Math.min(1, (this.readProgress.done + this.readProgress.current) / this.readProgress.partitions),
      }),
      updatedAt: new Date(this.clock()).toISOString(),
    };
  }

  private sampleTimeline(): void {
    const stats = this.gauges?.stats;
    this.timeline.push({
      atMs: this.clock() - this.stepStartedAtMs,
      rowsRead: this.counters.profilesRead,
      objectsSent: this.counters.objectsSent,
      requests: stats?.requests ?? 0,
      throttled: stats?.throttled ?? 0,
      retries: stats?.retries ?? 0,
    });
  }

  reportProgress(): void {
    const progress = this.progress();
    const stats = this.gauges?.stats;
    this.sampleTimeline();
    this.input.logger.log('info', 'run progress', {
      runId: this.input.runId,
      phase: progress.phase,
      rowsRead: progress.rowsRead,
      objectsSent: progress.objectsSent,
      requests: stats?.requests ?? 0,
      throttled: stats?.throttled ?? 0,
      retries: stats?.retries ?? 0,
      concurrencyLimit: stats?.concurrencyLimit ?? 0,
      inFlight: stats?.inFlight ?? 0,
      queuedBatches: stats?.queuedBatches ?? 0,
      unrecorded: this.gauges?.unrecordedCount ?? 0,
    });
    this.input.onProgress?.(progress);
  }

  summarize(
    request: RunRequest,
    descriptor: ExportDescriptor,
    segments: RunSummary['segments'],
    alreadySynced: boolean,
    checkpoint: Checkpoint,
  ): RunSummary {
    const finishedAtMs = this.clock();
    this.sampleTimeline();
    const status = segments.some((s) => s.heldReason) ? 'held' : 'succeeded';
    return {
      runId: this.input.runId,
      status,
      outcome: runOutcome(status, this.counters),
      caller: request.caller,
      dryRun: request.dryRun,
      fullResync: request.fullResync,
      exportFingerprint: descriptor.fingerprint,
      exportMetadataBlob: descriptor.metadataBlob,
      alreadySynced,
      stateChange: this.stateChange,
      ...this.counters,
      segments,
      skippedReasons: this.skippedReasons,
      rejectedReasons: this.rejectedReasons,
      timeline: this.timeline,
      phaseMs: {
        ...this.phaseMs,
        [this.phase]: this.phaseMs[this.phase] + finishedAtMs - this.phaseSinceMs,
      },
      startedAt: checkpoint.startedAt,
      finishedAt: new Date(finishedAtMs).toISOString(),
      durationMs: (checkpoint.workedMs ?? 0) + finishedAtMs - this.stepStartedAtMs,
      context: runContext(request, descriptor, this.configHash, this.comparedWithPreviousState),
    };
  }
}
