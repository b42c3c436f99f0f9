/**
 * Keeps the run's checkpoint close behind Braze's acknowledgements, so that a crash resends at most the batches
 * that were in flight (design §7).
 *
 * Objects sent but not yet covered by a durable checkpoint are "unrecorded". Checkpoints are written back to back
 * (one at a time, each covering every acknowledgement so far), and the sender waits while more than `limit`
 * objects are unrecorded. With `limit` = the objects that fit in the in-flight batches, a process killed at any
 * moment has at most that many objects to send again.
 */
export class DurableProgress {
  /** Sequence numbers of sent objects, oldest first; those before `head` are covered by a durable checkpoint. */
  private sent: number[] = [];
  private head = 0;
  private durableResumeFrom: number;
  private writing: Promise<void> | null = null;
  private failure: unknown = null;
  private roomWaiters: Array<() => void> = [];

  constructor(
    /** Writes a checkpoint that resumes from `resumeFrom`. */
    private readonly save: (resumeFrom: number) => Promise<void>,
    /** The sequence number below which everything is settled (accepted or rejected). */
    private readonly watermark: () => number,
    private readonly limit: number,
    resumeFrom: number,
  ) {
    this.durableResumeFrom = resumeFrom;
  }

  get unrecorded(): number {
    return this.sent.length - this.head;
  }

  recordSent(seq: number): void {
    this.sent.push(seq);
  }

  /** Resolves when fewer than `limit` sent objects are unrecorded; rejects when a checkpoint write failed. */
  async waitForRoom(): Promise<void> {
    while (this.unrecorded >= this.limit) {
      if (this.failure) throw this.failure;
      this.settled();
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Call when results arrived: starts a checkpoint write if the watermark moved and none is running. */
  settled(): void {
    if (this.writing || this.failure || this.watermark() <= this.durableResumeFrom) return;
    const resumeFrom = this.watermark();
    this.writing = this.save(resumeFrom).then(
      () => {
        this.writing = null;
        this.durableResumeFrom = resumeFrom;
        while (this.head < this.sent.length && this.sent[this.head] < resumeFrom) this.head++;
        if (this.head > 4096 && this.head * 2 > this.sent.length) {
          this.sent = this.sent.slice(this.head);
          this.head = 0;
        }
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

  /** Stops waiting for acknowledgements that will never come (delivery stopped): waiters reject with `error`. */
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
