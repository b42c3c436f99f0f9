import type { RunProgress } from '../../shared/run/types';
import { createProgressReporter, type ProgressUpdate } from '../../tools/cli/progress';

const ESCAPE = String.fromCharCode(0x1b);

/** A stand-in for process.stderr: records what is written, with or without a terminal. */
function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 200, write: (chunk: string) => chunks.push(chunk) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, output: () => chunks.join(''), chunks };
}

const reading: ProgressUpdate = {
  phase: 'committing',
  rowsRead: 9_000,
  objectsSent: 700,
  readFraction: 1,
  updatedAt: '2026-12-04T12:00:00.000Z',
};
const finished: RunProgress = {
  phase: 'finished',
  rowsRead: 9_500,
  objectsSent: 720,
  updatedAt: '2026-12-04T12:00:05.000Z',
};

describe('the progress display when a run ends', () => {
  it('ends a terminal line at 100 % with the final counts', () => {
    const { stream, chunks, output } = fakeStream(true);
    const reporter = createProgressReporter(stream, { clock: () => 0 });
    reporter.onProgress(reading);
    reporter.done(finished);
    expect(chunks.at(-1)).toBe(
      `\r[####################] finished (100 %) · 9,500 rows read · 720 objects sent${ESCAPE}[K\n`,
    );
    expect(output().split('\n')).toHaveLength(2);
  });

  it('prints a final plain line when the output is not a terminal, even right after another line', () => {
    const { stream, output } = fakeStream(false);
    const reporter = createProgressReporter(stream, { clock: () => 0 });
    reporter.onProgress(reading);
    reporter.done(finished);
    expect(output().split('\n')).toEqual([
      'committing (step 3/3) · 9,000 rows read · 700 objects sent · 0 rows/s',
      'finished (100 %) · 9,500 rows read · 720 objects sent',
      '',
    ]);
  });

  it('leaves the last state as it was without a final progress (a failed or interrupted run)', () => {
    const { stream, output } = fakeStream(true);
    const reporter = createProgressReporter(stream, { clock: () => 0 });
    reporter.onProgress(reading);
    reporter.done();
    expect(output()).not.toContain('finished');
    expect(output()).toContain('[###################-] committing');
    expect(output().endsWith('\n')).toBe(true);
  });
});
