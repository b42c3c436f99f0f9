import { checkpointPacing, DurableProgress, type ProgressState } from '../../shared/run/durableProgress';

/** A run's progress as the pipeline reports it: objects read so far, and those still waiting for an answer. */
class FakeRun {
  read = 0;
  readonly waiting = new Set<number>();
  readonly saved: ProgressState[] = [];
  private release: Array<() => void> = [];
  /** When false, checkpoint writes wait for `finishWrites()`. */
  writesFinishAtOnce = true;

  send(progress: DurableProgress): Promise<void> | undefined {
    const seq = this.read++;
    this.waiting.add(seq);
    progress.recordSent(seq);
    return progress.full ? progress.waitForRoom() : undefined;
  }

  answer(progress: DurableProgress, ...seqs: number[]): void {
    for (const seq of seqs) this.waiting.delete(seq);
    progress.answered(seqs.length);
  }

  state = (): ProgressState => ({ settledBelow: this.read, unsettled: [...this.waiting].sort((a, b) => a - b) });

  save = (state: ProgressState): Promise<void> => {
    this.saved.push(state);
    if (this.writesFinishAtOnce) return Promise.resolve();
    return new Promise((resolve) => this.release.push(resolve));
  };

  finishWrites(): void {
    for (const resolve of this.release.splice(0)) resolve();
  }
}

const LIMIT = 4;
/** A write after every answer, unless a test says otherwise. */
const EVERY_ANSWER = { limit: LIMIT, recordEvery: 1 };
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('DurableProgress', () => {
  it('records answers that came after an older request still waiting: one slow answer holds back only itself', async () => {
    const run = new FakeRun();
    const progress = new DurableProgress(run.save, run.state, EVERY_ANSWER);
    for (let i = 0; i < LIMIT - 1; i++) expect(run.send(progress)).toBeUndefined();
    // Object 0 is slow; 1 and 2 are answered.
    run.answer(progress, 1, 2);
    await flush();
    expect(run.saved.at(-1)).toEqual({ settledBelow: 3, unsettled: [0] });
    expect(progress.unrecordedCount).toBe(1);
    // Room for more although object 0 is still waiting.
    for (let i = 0; i < LIMIT - 2; i++) expect(run.send(progress)).toBeUndefined();
    run.answer(progress, 3, 4);
    await flush();
    expect(run.saved.at(-1)).toEqual({ settledBelow: 5, unsettled: [0] });
    expect(progress.unrecordedCount).toBe(1);
  });

  it('makes the sender wait while `limit` objects are not covered by a durable checkpoint', async () => {
    const run = new FakeRun();
    run.writesFinishAtOnce = false;
    const progress = new DurableProgress(run.save, run.state, EVERY_ANSWER);
    for (let i = 0; i < LIMIT - 1; i++) run.send(progress);
    const wait = run.send(progress);
    expect(wait).toBeInstanceOf(Promise);
    let resumed = false;
    void wait!.then(() => (resumed = true));
    run.answer(progress, 0, 1, 2, 3);
    await flush();
    // Answered, but the checkpoint that records it is not written yet: the sender still waits.
    expect(resumed).toBe(false);
    expect(run.saved).toEqual([{ settledBelow: 4, unsettled: [] }]);
    run.finishWrites();
    await flush();
    expect(resumed).toBe(true);
    expect(progress.unrecordedCount).toBe(0);
  });

  it('writes nothing while no answer would be recorded, and one write at a time', async () => {
    const run = new FakeRun();
    run.writesFinishAtOnce = false;
    const progress = new DurableProgress(run.save, run.state, EVERY_ANSWER);
    run.send(progress);
    run.send(progress);
    progress.answered(0);
    expect(run.saved).toHaveLength(0);
    run.answer(progress, 0);
    run.answer(progress, 1);
    expect(run.saved).toEqual([{ settledBelow: 2, unsettled: [1] }]);
    run.finishWrites();
    await flush();
    // The write that was running when 1 was answered is followed by one that records it.
    expect(run.saved).toEqual([
      { settledBelow: 2, unsettled: [1] },
      { settledBelow: 2, unsettled: [] },
    ]);
  });

  it('rejects the waiting sender when a checkpoint write fails, and when delivery stops', async () => {
    const failing = new FakeRun();
    const progress = new DurableProgress(
      () => Promise.reject(new Error('blob write failed')),
      failing.state,
      EVERY_ANSWER,
    );
    for (let i = 0; i < LIMIT - 1; i++) failing.send(progress);
    const wait = failing.send(progress)!;
    failing.answer(progress, 0);
    await expect(wait).rejects.toThrow('blob write failed');
    await expect(progress.idle()).rejects.toThrow('blob write failed');

    const stopped = new FakeRun();
    const other = new DurableProgress(stopped.save, stopped.state, EVERY_ANSWER);
    for (let i = 0; i < LIMIT - 1; i++) stopped.send(other);
    const waiting = stopped.send(other)!;
    other.abort(new Error('Braze refused the key'));
    await expect(waiting).rejects.toThrow('Braze refused the key');
  });

  it('writes once `recordEvery` answers arrived, sooner when the sender waits', async () => {
    const run = new FakeRun();
    run.writesFinishAtOnce = false;
    const progress = new DurableProgress(run.save, run.state, { limit: 6, recordEvery: 3 });
    for (let i = 0; i < 5; i++) expect(run.send(progress)).toBeUndefined();
    run.answer(progress, 0);
    run.answer(progress, 1);
    expect(run.saved).toHaveLength(0);
    run.answer(progress, 3);
    expect(run.saved).toEqual([{ settledBelow: 5, unsettled: [2, 4] }]);
    run.finishWrites();
    await flush();
    expect(progress.unrecordedCount).toBe(2);

    // One answer since that write, far from three: a sender that reaches the limit gets it recorded at once.
    run.answer(progress, 2);
    expect(run.saved).toHaveLength(1);
    for (let i = 0; i < 3; i++) expect(run.send(progress)).toBeUndefined();
    const wait = run.send(progress);
    expect(wait).toBeInstanceOf(Promise);
    expect(run.saved.at(-1)).toEqual({ settledBelow: 9, unsettled: [4, 5, 6, 7, 8] });
    run.finishWrites();
    await wait;
    expect(progress.unrecordedCount).toBe(5);
  });

  it('checks its options, and paces a run to a write per window of answers', () => {
    const run = new FakeRun();
    expect(() => new DurableProgress(run.save, run.state, { limit: 0, recordEvery: 1 })).toThrow(
      'DurableProgress limit must be a whole number >= 1, got 0',
    );
    expect(() => new DurableProgress(run.save, run.state, { limit: 4, recordEvery: 1.5 })).toThrow(
      'DurableProgress recordEvery must be a whole number >= 1, got 1.5',
    );
    // 16 requests of 75 in flight and an open batch make a window of 1,275 objects.
    expect(checkpointPacing(16, 75)).toEqual({ recordEvery: 1275, limit: 3825 });
    expect(checkpointPacing(100, 75)).toEqual({ recordEvery: 7575, limit: 22725 });
    // An adaptive limit that dropped low keeps the window of 16: no checkpoint write per few answers.
    expect(checkpointPacing(1, 75)).toEqual({ recordEvery: 1275, limit: 3825 });
  });
});
