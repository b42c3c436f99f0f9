import type { Settings } from '../config/settings';
import { AppError, isRetryable } from '../errors';
import type { DeltaPlanner } from '../state/diff';
import { commitRun, dropStaged, stageSnapshot } from './commit';
import { ResumeLaterError } from './outcome';
import { loadPlanner } from './planning';
import { SegmentReader } from './reading';
import { segmentsToHold, sendRemovals } from './removals';
import { ResumeState } from './resumeState';
import { Sender } from './sending';
import type { PipelineDependencies, RunInput, StepContext } from './stepContext';
import { StepProgress } from './stepProgress';
import { openStep, type OpenedStep } from './stepStart';
import type { RunExecutor, RunRequest } from './types';

export type { PipelineDependencies } from './stepContext';
export { selectSegments } from './planning';

/** A run that stopped because its lease was lost: the queue retries it and it resumes from the checkpoint. */
export class RunInterruptedError extends AppError {
  readonly code = 'RUN_INTERRUPTED';
  readonly retryable = true;
}

/** The run pipeline (design §3): discover, read, map, diff, deliver, commit. Resumable from its checkpoint. */
export function createRunExecutor(dependencies: PipelineDependencies): RunExecutor {
  return async (input) => {
    try {
      return await new RunStep(dependencies, input).execute();
    } catch (error) {
      throw failFast(error, maxRetryTimeSeconds(dependencies.settings, input.request));
    }
  };
}

/** The run's bound on retrying Braze: the request's, else RUN_MAX_RETRY_TIME_SECONDS; undefined when neither. */
function maxRetryTimeSeconds(settings: Settings, request: RunRequest): number | undefined {
  return request.maxRetryTimeSeconds ?? settings.runMaxRetryTimeSeconds;
}

/** Under a max retry time, a retryable failure is not left to the queue: the run stops, resumable later. */
function failFast(error: unknown, maxRetrySeconds: number | undefined): unknown {
  if (maxRetrySeconds === undefined || !isRetryable(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ResumeLaterError(`${message} (max retry time ${maxRetrySeconds} s spent; start the run again to resume)`);
}

/**
 * One worker invocation of a run: from its checkpoint (or the start) to completion or the deadline. Opens the step
 * (stepStart), loads the planner (planning), reads and sends (reading, sending), holds or sends removals (removals)
 * and commits (commit); counters and progress live in StepProgress, the resume arithmetic in ResumeState.
 */
class RunStep {
  private readonly ctx: StepContext;
  private planner: DeltaPlanner | null = null;
  private sender: Sender | null = null;
  private segmentIds: readonly string[] = [];

  constructor(deps: PipelineDependencies, input: RunInput) {
    const clock = deps.clock ?? Date.now;
    const progress = new StepProgress(deps, input, clock);
    this.ctx = { deps, input, clock, logger: input.logger, progress, resume: new ResumeState() };
  }

  async execute() {
    try {
      return await this.executeStep();
    } catch (error) {
      // A step that stops without committing leaves what it sent on record, for a restart on a newer export.
      await this.recordSentMemberships().catch(() => undefined);
      throw error;
    }
  }

  private async executeStep() {
    const { ctx } = this;
    const opened = await openStep(ctx);
    if (!('key' in opened)) return opened;
    const { request, layout, descriptor, selected, covered } = opened;
    this.segmentIds = layout.segmentIds;
    const { planner, loadedVersion, guardMembers } = await loadPlanner(ctx, opened);
    this.planner = planner;
    const sender = this.openSender(planner, opened);
    const reader = new SegmentReader(ctx, planner, sender);

    const segmentMembers = new Array<number>(layout.segmentIds.length).fill(0);
    ctx.progress.enterPhase('reading');
    if (!(await reader.readSegments(descriptor, selected, segmentMembers))) return this.pause();
    if (!(await reader.sendHeld())) return this.pause();
    await reader.finishReading();

    ctx.progress.enterPhase('removals');
    const counts = { before: guardMembers ?? planner.previousMemberCounts(), after: segmentMembers };
    const held = segmentsToHold(ctx, layout, reader, covered, counts, request);
    const { heldMembers, removals } = planner.planRemovals(new Set(held.keys()));
    heldMembers.forEach((count, segment) => {
      ctx.progress.counters.membershipsRemovalHeld += count;
      ctx.progress.segmentHeld[segment] += count;
    });
    // The next snapshot is settled: written while the removals go out (again at the end if Braze rejects an object).
    const staging = request.dryRun ? null : stageSnapshot(ctx, opened.key, planner, loadedVersion);
    if (!(await sendRemovals(ctx, sender, removals))) {
      await dropStaged(ctx, staging);
      return this.pause();
    }

    await sender.settle();
    ctx.progress.enterPhase('committing');
    return commitRun(ctx, opened, { planner, loadedVersion, sender, segmentMembers, held, staging });
  }

  /** The send path: to Braze, or (dry run) into the plan. */
  private openSender(planner: DeltaPlanner, opened: OpenedStep): Sender {
    const { settings } = this.ctx.deps;
    const sender = new Sender(this.ctx, planner);
    this.sender = sender;
    if (opened.request.dryRun) sender.planOnly(opened.layout.attributeNames, opened.layout.segmentIds);
    else {
      const maxRetrySeconds = maxRetryTimeSeconds(settings, opened.request) ?? Infinity;
      sender.connect(Math.min(settings.brazeMaxRetryTimeInMs, maxRetrySeconds * 1000));
      this.ctx.progress.gauges = sender;
    }
    return sender;
  }

  private async pause() {
    const { input, progress, logger } = this.ctx;
    const sender = this.sender!;
    await sender.settle();
    await this.recordSentMemberships();
    if (!input.request.dryRun) await sender.saveCheckpoint(sender.progressState());
    if (input.signal?.aborted) {
      // The run record keeps how far an interrupted step got: its last progress report may be seconds old.
      progress.reportProgress();
      throw new RunInterruptedError('the run lock was lost; the run will resume from its checkpoint');
    }
    const report = progress.progress();
    logger.log('info', 'run paused: time budget spent, continuing in a new invocation', {
      runId: input.runId,
      rowsRead: report.rowsRead,
      resumeFrom: this.ctx.resume.nextSeq,
    });
    return { kind: 'paused' as const, progress: report };
  }

  /** See `ResumeState.recordSentMemberships`: nothing to record in a dry run or before the planner exists. */
  private async recordSentMemberships(): Promise<void> {
    const { planner, segmentIds } = this;
    if (!planner || this.ctx.input.request.dryRun) return;
    await this.ctx.resume.recordSentMemberships(this.ctx.deps.stateContainer, (slot, segment) => [
      planner.next.keyOf(slot),
      segmentIds[segment],
    ]);
  }
}
