import { BrazeDelivery, resolveBrazeEndpoint } from '../braze';
import { IdentityDelivery } from '../braze/identity';
import type { DeliveryStats, RowResult } from '../braze/types';
import type { DeltaPlanner, PlannedObject } from '../state/diff';
import { hashId } from '../telemetry/logger';
import type { Checkpoint } from './artifacts';
import { saveCheckpoint } from './artifacts';
import { checkpointPacing, DurableProgress, type ProgressState } from './durableProgress';
import { IdentityStage } from './identityStage';
import { ChangePlan } from './plan';
import type { DeliveryGauges } from './stepProgress';
import type { PendingObject, SegmentReading, StepContext } from './stepContext';
import type { MergedObject } from './userMerge';

/**
 * The send path of a run step: each planned object goes to Braze (after its identity changes), or is replayed from
 * the checkpoint, or (dry run) recorded in the plan; Braze's answers become counts, rejections and checkpoints.
 */
export class Sender implements DeliveryGauges {
  private readonly pending = new Map<number, PendingObject>();
  /** Users with at least one accepted object (bit per slot of the new snapshot). */
  private usersSentFlags = new Uint8Array(1024);
  /** Identity changes and the rows that wait for them (see `IdentityStage`). */
  readonly identity = new IdentityStage<SegmentReading>();
  private delivery: BrazeDelivery | null = null;
  private durable: DurableProgress | null = null;
  /** What a dry run would send; null when the run sends. */
  dryRunPlan: ChangePlan | null = null;

  constructor(
    private readonly ctx: StepContext,
    private readonly planner: DeltaPlanner,
  ) {}

  /** A dry run: objects are recorded in a plan, nothing goes to Braze. */
  planOnly(attributeNames: readonly string[], segmentIds: readonly string[]): void {
    this.dryRunPlan = new ChangePlan(attributeNames, segmentIds);
  }

  /** Opens the delivery to Braze, its identity calls and its checkpoints. */
  connect(maxRetryTimeInMs: number): void {
    const { settings } = this.ctx.deps;
    const endpoint = () =>
      resolveBrazeEndpoint(settings.brazeRestEndpoint, { allowInsecureLoopback: settings.brazeAllowInsecureLoopback });
    this.delivery = new BrazeDelivery({
      endpoint: endpoint(),
      apiKey: settings.brazeApiKey,
      batchSize: settings.brazeBatchSize,
      concurrency: settings.brazeConcurrency,
      requestsPerSecond: settings.brazeRequestsPerSecond,
      maxAttempts: settings.brazeMaxAttempts,
      maxRetryTimeInMs,
      requestTimeoutInMs: settings.brazeRequestTimeoutInMs,
      onResults: (results) => this.onResults(results),
      onFailure: (error) => this.durable?.abort(error),
      logger: this.ctx.logger,
    });
    this.identity.connect(
      new IdentityDelivery({
        endpoint: endpoint(),
        apiKey: settings.brazeApiKey,
        maxAttempts: settings.brazeMaxAttempts,
        requestTimeoutInMs: settings.brazeRequestTimeoutInMs,
      }),
      (error) => this.durable?.abort(error),
    );
    this.durable = new DurableProgress(
      (state) => this.saveCheckpoint(state),
      () => this.progressState(),
      () => checkpointPacing(this.delivery!.concurrencyLimit, settings.brazeBatchSize),
    );
  }

  get stats(): DeliveryStats | undefined {
    return this.delivery?.stats;
  }

  get unrecordedCount(): number {
    return this.durable?.unrecordedCount ?? 0;
  }

  /**
   * Sends one planned object, or (below the checkpoint) replays the verdict Braze gave it before. Returns a promise
   * only when the caller must wait (delivery or checkpoint backpressure): an await per row costs a microtask each.
   */
  send(seq: number, planned: PlannedObject | MergedObject, blob?: string, line?: number): Promise<void> | undefined {
    const merged = 'rows' in planned ? planned : undefined;
    const addedSegments = merged?.addedSegments;
    // Counted for every object given, replayed ones too: a resumed step's counters are rebuilt from the replay.
    if (merged) this.ctx.progress.counters.rowsMerged! += merged.rows - 1;
    const pending: PendingObject = {
      slot: planned.slot,
      segment: planned.segment,
      addedSegments,
      attributesChanged: planned.attributesChanged,
      membershipsAdded: planned.membershipsAdded,
      removedSegments: planned.removedSegments,
      identity: planned.identity,
      blob,
      line,
    };
    const { resume } = this.ctx;
    if (resume.settledBefore(seq)) {
      const reason = resume.brazeRejected.get(seq);
      if (reason === undefined) this.accept(pending);
      else this.rejectObject(seq, pending, reason);
      return;
    }
    if (this.dryRunPlan) {
      this.dryRunPlan.record(planned, this.planner.next.keyOf(planned.slot));
      this.accept(pending);
      return;
    }
    this.pending.set(seq, pending);
    if (addedSegments) for (const segment of addedSegments) resume.noteSentMembership(planned.slot, segment);
    else if (planned.membershipsAdded > 0) resume.noteSentMembership(planned.slot, planned.segment);
    // Identity calls first: the object goes once Braze made them (and is refused with them otherwise).
    const identityDone = this.identity.before(planned);
    if (identityDone) {
      void identityDone.then((refusal) => {
        if (refusal === null) return this.push(seq, planned.object);
        this.pending.delete(seq);
        resume.brazeRejected.set(seq, refusal);
        this.rejectObject(seq, pending, refusal);
      });
      return;
    }
    return this.push(seq, planned.object);
  }

  private push(seq: number, object: Record<string, unknown>): Promise<void> | undefined {
    const pushed = this.delivery!.push({ ref: seq, object });
    return pushed ? pushed.then(() => this.recordSent(seq)) : this.recordSent(seq);
  }

  private recordSent(seq: number): Promise<void> | undefined {
    this.durable!.recordSent(seq);
    return this.durable!.full ? this.durable!.waitForRoom() : undefined;
  }

  /** What a checkpoint written now records (see `ResumeState.progressState`). */
  progressState(): ProgressState {
    return this.ctx.resume.progressState(this.pending.keys());
  }

  private onResults(results: RowResult[]): void {
    for (const result of results) {
      const pending = this.pending.get(result.ref);
      if (!pending) continue;
      this.pending.delete(result.ref);
      if (result.status === 'accepted') this.accept(pending);
      else {
        this.ctx.resume.brazeRejected.set(result.ref, result.reason);
        this.rejectObject(result.ref, pending, result.reason);
      }
    }
    this.durable?.answered(results.length);
  }

  private accept(planned: PendingObject): void {
    const { progress } = this.ctx;
    const c = progress.counters;
    c.objectsSent++;
    const removed = planned.removedSegments.length;
    c.attributesSent += planned.attributesChanged + planned.membershipsAdded + removed;
    c.membershipsAdded += planned.membershipsAdded;
    c.membershipsRemoved += removed;
    if (removed > 0) c.removalObjectsSent++;
    for (const change of planned.identity ?? []) {
      if (change.kind === 'identify') c.identified++;
      else if (change.kind === 'rename') c.renamed++;
      else c.merged++;
    }
    if (planned.addedSegments) for (const segment of planned.addedSegments) progress.segmentAdded[segment]++;
    else if (planned.membershipsAdded) progress.segmentAdded[planned.segment]++;
    for (const segment of planned.removedSegments) progress.segmentRemoved[segment]++;
    if (planned.slot >= this.usersSentFlags.length) {
      const grown = new Uint8Array(Math.max(planned.slot + 1, this.usersSentFlags.length * 2));
      grown.set(this.usersSentFlags);
      this.usersSentFlags = grown;
    }
    if (this.usersSentFlags[planned.slot] === 0) {
      this.usersSentFlags[planned.slot] = 1;
      c.usersSent++;
    }
  }

  private rejectObject(seq: number, pending: PendingObject, reason: string): void {
    this.planner.reject(pending);
    for (const change of pending.identity ?? []) this.planner.rejectIdentity(change);
    const idHash = hashId(this.planner.next.keyOf(pending.slot));
    this.ctx.progress.reject(seq, 'braze', reason, { blob: pending.blob, line: pending.line, idHash });
  }

  /** Waits until every object sent is answered and recorded; the run's request counts then include this step's. */
  async settle(): Promise<void> {
    // Objects that wait for identity changes are handed to the delivery first.
    await this.identity.settle();
    this.identity.close();
    if (this.delivery) {
      const stats = await this.delivery.flush();
      const { counters } = this.ctx.progress;
      const before = this.ctx.resume.checkpoint.delivery;
      counters.requests = before.requests + stats.requests;
      counters.retries = before.retries + stats.retries;
      counters.throttled = before.throttled + stats.throttled;
    }
    await this.durable?.idle();
  }

  async saveCheckpoint(state: ProgressState, final?: Checkpoint['final']): Promise<void> {
    const { deps, resume, progress, clock } = this.ctx;
    const checkpoint = resume.checkpointOf(state, this.stats, progress.workedMs(resume.checkpoint), clock(), final);
    await saveCheckpoint(deps.stateContainer, checkpoint);
  }
}
