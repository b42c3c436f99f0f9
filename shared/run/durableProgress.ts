/**
 * What a checkpoint records: every object below `settledBelow` is settled (answered by Braze, or never needing a
 * request) except those in `unsettled` (ascending), which were sent and not yet answered. A resumed step sends again
 * only these and what comes after `settledBelow`.
 */
export interface ProgressState {
  settledBelow: number;
  unsettled: readonly number[];
}

export interface DurableProgressOptions {
  /** Unrecorded objects at which the sender waits for a checkpoint: the most a crash resends. */
  limit: number;
  /** Answers after which a checkpoint write starts (sooner when the sender waits). */
  recordEvery: number;
}

/**
 * Keeps the run's checkpoint close enough behind Braze's answers that a crash resends a bounded number of objects
 * (design §7), without a blob write per answer.
 *
 * Objects handed to delivery but not yet covered by a durable checkpoint are "unrecorded": a process killed now would
 * send them again. A checkpoint write starts once `recordEvery` answers have arrived since the last one started (each
 * write records every answer so far, also answers that came before an older request's), and the sender waits while
 * `limit` objects are unrecorded. So a crash resends at most `limit` objects, and one slow answer holds back only its
 * own batch. Writing after every answer would bound resends to the in-flight batches, but costs a storage write per
 * few requests, whose latency then paces the sender (measured in docs/ARCHITECTURE.md).
 */
/**
 * Checkpoint pacing for a delivery of `concurrency` requests of `batchSize` objects, a window being what the in-flight
 * batches and the open one hold: a write per window of answers. The limit leaves room for the delivery's queue (about
 * a window), the batches in flight and a window of answers, so the sender seldom waits for a write. With adaptive
 * concurrency the pacing follows the current limit (at least 16), so a crash resends at most
 * `3 × (max(limit, 16) + 1) × batchSize` objects for the limit at that moment, never more than at the ceiling (57,825
 * at 256 × 75).
 */
export function checkpointPacing(concurrency: number, batchSize: number): DurableProgressOptions {
  // A window of at least 16 requests: an adaptive limit that drops low must not turn into a write per few answers.
  const window = (Math.max(concurrency, MIN_PACING_CONCURRENCY) + 1) * batchSize;
  return { recordEvery: window, limit: 3 * window };
}

/** The checkpoint window never shrinks below that of 16 requests in flight (the crash bound: 3,825 objects of 75). */
const MIN_PACING_CONCURRENCY = 16;

export class DurableProgress {
  /** Sequence numbers of sent objects not covered by a durable checkpoint, ascending. */
  private unrecorded: number[] = [];
  private writing: Promise<void> | null = null;
  private failure: unknown = null;
  private roomWaiters: Array<() => void> = [];
  /** Answers since the last write started. */
  private answersToRecord = 0;

  constructor(
    /** Writes a checkpoint of `state`. */
    private readonly save: (state: ProgressState) => Promise<void>,
    /** The run's progress now. */
    private readonly state: () => ProgressState,
    /** Fixed pacing, or pacing read at each use (it follows the delivery's concurrency limit). */
    pacing: DurableProgressOptions | (() => DurableProgressOptions),
  ) {
    this.pacing = typeof pacing === 'function' ? pacing : () => pacing;
    for (const [name, value] of Object.entries(this.pacing())) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`DurableProgress ${name} must be a whole number >= 1, got ${value}`);
      }
    }
  }

  private readonly pacing: () => DurableProgressOptions;

  get unrecordedCount(): number {
    return this.unrecorded.length;
  }

  recordSent(seq: number): void {
    this.unrecorded.push(seq);
  }

  /** True when the sender must wait (`waitForRoom`) before handing over more objects. */
  get full(): boolean {
    return this.unrecorded.length >= this.pacing().limit;
  }

  /** Resolves when fewer than `limit` sent objects are unrecorded; rejects when a checkpoint write failed. */
  async waitForRoom(): Promise<void> {
    while (this.full) {
      if (this.failure) throw this.failure;
      const room = new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      this.write();
      await room;
    }
  }

  /** Call when `count` answers arrived: starts a checkpoint write once `recordEvery` wait to be recorded. */
  answered(count: number): void {
    this.answersToRecord += count;
    if (this.answersToRecord >= this.pacing().recordEvery || this.roomWaiters.length > 0) this.write();
  }

  /** Starts a checkpoint write if it would record an answer, and none is running. */
  private write(): void {
    if (this.writing || this.failure) return;
    this.answersToRecord = 0;
    const state = this.state();
    if (stillUnrecorded(this.unrecorded, state).length === this.unrecorded.length) return;
    this.writing = this.save(state).then(
      () => {
        this.writing = null;
        this.unrecorded = stillUnrecorded(this.unrecorded, state);
        this.wakeWaiters();
        // Answers that came during the write: recorded now if the sender waits or enough of them wait.
        this.answered(0);
      },
      (error: unknown) => {
        this.writing = null;
        this.failure = error;
        this.wakeWaiters();
      },
    );
  }

  /** Stops waiting for answers that will never come (delivery stopped): waiters reject with `error`. */
  abort(error: unknown): void {
    this.failure ??= error;
    this.wakeWaiters();
  }

  /** Waits for the checkpoint write under way, if any; rethrows a failed write. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  private wakeWaiters(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }
}

/** The sent objects (ascending) that a checkpoint of `state` would not cover. */
function stillUnrecorded(sent: readonly number[], state: ProgressState): number[] {
  const open = state.unsettled;
  const left: number[] = [];
  let o = 0;
  for (const seq of sent) {
    if (seq >= state.settledBelow) {
      left.push(seq);
      continue;
    }
    while (o < open.length && open[o] < seq) o++;
    if (o < open.length && open[o] === seq) left.push(seq);
  }
  return left;
}
