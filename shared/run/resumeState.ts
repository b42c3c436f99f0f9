import type { ContainerClient } from '@azure/storage-blob';
import type { DeliveryStats } from '../braze/types';
import type { Checkpoint } from './artifacts';
import type { ProgressState } from './durableProgress';
import { recordMembershipKeys, type SentMembership } from './exportPin';

/**
 * Where a run step resumes and what it must not send again: the rows its checkpoint settled, Braze's verdicts on
 * them, the row numbering, and the memberships this step sent (for a restart on a newer export).
 */
export class ResumeState {
  /** Sequence number of the next row or object; rows and removals are numbered the same way in every step. */
  nextSeq = 0;
  /** The first row this step may have to send; the rows before it are replayed from the checkpoint. */
  resumeFrom = 0;
  /** From the checkpoint: rows below this were settled, except `resendOnResume`. */
  private replayBelow = 0;
  private resendOnResume: ReadonlySet<number> = new Set();
  /** Braze's rejections by sequence number: replayed below the checkpoint, saved with it. */
  readonly brazeRejected = new Map<number, string>();
  checkpoint!: Checkpoint;
  /**
   * Memberships this step sent, as (next-snapshot slot, segment) pairs, and the blob they go to when the step ends
   * without committing (see `recordSentMemberships`). Slots, not keys: a key string per object cost a 1M full sync
   * about 2 s of CPU (12 %) when written at every checkpoint.
   */
  private sentMemberships = new Int32Array(1024);
  private sentMembershipValues = 0;
  membershipKeysBlob = '';

  /** Continues from `saved` when it is of this export version and config (`runHash`), else starts afresh. */
  start(saved: Checkpoint | null, runId: string, exportFingerprint: string, runHash: string, nowMs: number): void {
    const resumable =
      saved?.version === 2 && saved.exportFingerprint === exportFingerprint && saved.configHash === runHash;
    this.checkpoint = {
      version: 2,
      runId,
      exportFingerprint,
      configHash: runHash,
      settledBelow: resumable ? saved.settledBelow : 0,
      unsettled: resumable ? saved.unsettled : [],
      brazeRejected: resumable ? saved.brazeRejected : [],
      delivery: resumable ? saved.delivery : { requests: 0, retries: 0, throttled: 0 },
      startedAt: resumable ? saved.startedAt : new Date(nowMs).toISOString(),
      workedMs: resumable ? (saved.workedMs ?? 0) : 0,
      savedAt: new Date(nowMs).toISOString(),
    };
    this.replayBelow = this.checkpoint.settledBelow;
    this.resendOnResume = new Set(this.checkpoint.unsettled);
    this.resumeFrom = this.checkpoint.unsettled[0] ?? this.checkpoint.settledBelow;
    for (const [seq, reason] of this.checkpoint.brazeRejected) this.brazeRejected.set(seq, reason);
  }

  /** True when an earlier step settled `seq`: its verdict is replayed, nothing is sent. */
  settledBefore(seq: number): boolean {
    return seq < this.replayBelow && !this.resendOnResume.has(seq);
  }

  /**
   * What a checkpoint written now records: every row read is settled except the objects awaiting Braze's answer
   * (`pending`), and (when resumed) the rows the checkpoint we started from left unsettled, further on than this
   * step has read.
   */
  progressState(pending: Iterable<number>): ProgressState {
    const unsettled = [...pending];
    for (const seq of this.resendOnResume) if (seq >= this.nextSeq) unsettled.push(seq);
    return { settledBelow: Math.max(this.nextSeq, this.replayBelow), unsettled };
  }

  /** The checkpoint of `state`, with the delivery counts of earlier steps and this one (`stats`). */
  checkpointOf(
    state: ProgressState,
    stats: Pick<DeliveryStats, 'requests' | 'retries' | 'throttled'> | undefined,
    workedMs: number,
    nowMs: number,
    final?: Checkpoint['final'],
  ): Checkpoint {
    return {
      ...this.checkpoint,
      settledBelow: state.settledBelow,
      unsettled: [...state.unsettled],
      // Every verdict held is of a settled row: an object is rejected when its answer comes.
      brazeRejected: [...this.brazeRejected],
      delivery: {
        requests: this.checkpoint.delivery.requests + (stats?.requests ?? 0),
        retries: this.checkpoint.delivery.retries + (stats?.retries ?? 0),
        throttled: this.checkpoint.delivery.throttled + (stats?.throttled ?? 0),
      },
      workedMs,
      savedAt: new Date(nowMs).toISOString(),
      final,
    };
  }

  /** A typed array, not an array of numbers: a million pairs stay off the garbage collector's heap. */
  noteSentMembership(slot: number, segment: number): void {
    if (this.sentMembershipValues + 2 > this.sentMemberships.length) {
      const grown = new Int32Array(this.sentMemberships.length * 2);
      grown.set(this.sentMemberships);
      this.sentMemberships = grown;
    }
    this.sentMemberships[this.sentMembershipValues++] = slot;
    this.sentMemberships[this.sentMembershipValues++] = segment;
  }

  /**
   * Appends the memberships this step sent to the run's record (`recordMembershipKeys`), read only when a later step
   * must start over on a newer export. Written when a step ends without committing (pause, interrupt, failure); a
   * step killed outright leaves none (docs/reliability.md). `describe` names a (slot, segment) pair.
   */
  async recordSentMemberships(
    stateContainer: ContainerClient,
    describe: (slot: number, segment: number) => SentMembership,
  ): Promise<void> {
    if (this.sentMembershipValues === 0) return;
    const pairs = this.sentMemberships.subarray(0, this.sentMembershipValues);
    const sent: SentMembership[] = [];
    for (let at = 0; at < pairs.length; at += 2) sent.push(describe(pairs[at], pairs[at + 1]));
    this.sentMembershipValues = 0;
    await recordMembershipKeys(stateContainer, this.membershipKeysBlob, sent);
  }
}
