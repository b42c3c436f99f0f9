/**
 * What a checkpoint records: every object below `settledBelow` is settled (answered by Braze, or never needing a
 * request) except those in `unsettled` (ascending), which were sent and not yet answered. A resumed step sends again
 * only these and what comes after `settledBelow`.
 */
export interface ProgressState {
  settledBelow: number;
  unsettled: readonly number[];
}

/**
 * Keeps the run's checkpoint close behind Braze's answers, so that a crash resends at most the batches that were in
 * flight (design §7).
 *
 * Objects sent but not yet covered by a durable checkpoint are "unrecorded". Checkpoints are written back to back
 * (one at a time, each recording every answer so far, also answers that came before an older request's), and the
 * sender waits while more than `limit` objects are unrecorded. With `limit` = the objects that fit in the in-flight
 * batches, a process killed at any moment has at most that many objects to send again, and one slow answer holds
 * back only its own batch.
 */
export class DurableProgress {
  /** Sequence numbers of sent objects not covered by a durable checkpoint, ascending. */
  private unrecorded: number[] = [];
  private writing: Promise<void> | null = null;
  private failure: unknown = null;
  private roomWaiters: Array<() => void> = [];

  constructor(
    /** Writes a checkpoint of `state`. */
    private readonly save: (state: ProgressState) => Promise<void>,
    /** The run's progress now. */
    private readonly state: () => ProgressState,
    private readonly limit: number,
  ) {}

  get unrecordedCount(): number {
    return this.unrecorded.length;
  }

  recordSent(seq: number): void {
    this.unrecorded.push(seq);
  }

  /** Resolves when fewer than `limit` sent objects are unrecorded; rejects when a checkpoint write failed. */
  async waitForRoom(): Promise<void> {
    while (this.unrecorded.length >= this.limit) {
      if (this.failure) throw this.failure;
      this.settled();
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Call when answers arrived: starts a checkpoint write if it would record one, and none is running. */
  settled(): void {
    if (this.writing || this.failure) return;
    const state = this.state();
    if (stillUnrecorded(this.unrecorded, state).length === this.unrecorded.length) return;
    this.writing = this.save(state).then(
      () => {
        this.writing = null;
        this.unrecorded = stillUnrecorded(this.unrecorded, state);
        this.wakeWaiters();
        this.settled();
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
