import { newRunId } from '../../shared/run/records';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { createProgressReporter, type ProgressUpdate } from '../../tools/cli/progress';
import {
  containerSink,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startLocalStack, type LocalStack } from '../helpers/localStack';

const ESCAPE = String.fromCharCode(0x1b);

/** A stand-in for process.stdout: records what is written, with or without a terminal. */
function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 200, write: (chunk: string) => chunks.push(chunk) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, output: () => chunks.join(''), chunks };
}

const progress = (rowsRead: number, objectsSent: number, extra: Partial<ProgressUpdate> = {}): ProgressUpdate => ({
  phase: 'reading',
  rowsRead,
  objectsSent,
  updatedAt: '2026-11-28T12:00:00.000Z',
  ...extra,
});

describe('progress on the command line', () => {
  it('prints plain lines at most every interval when the output is not a terminal, and the last state at the end', () => {
    let now = 0;
    const { stream, output } = fakeStream(false);
    const reporter = createProgressReporter(stream, { clock: () => now, plainIntervalInMs: 5000 });
    reporter.onProgress(progress(0, 0));
    now = 2000;
    reporter.onProgress(progress(20_000, 1_000, { requests: 14, throttled: 0 }));
    now = 5000;
    reporter.onProgress(progress(50_000, 3_000, { requests: 40, throttled: 2 }));
    now = 6000;
    reporter.onProgress(progress(60_000, 3_500, { phase: 'removals', requests: 47, throttled: 2 }));
    reporter.done();

    const lines = output().split('\n');
    expect(lines).toEqual([
      'reading (step 1/3) · 0 rows read · 0 objects sent · 0 rows/s',
      // 30,000 rows in the 3 s since the previous update
      'reading (step 1/3) · 50,000 rows read · 3,000 objects sent · 10,000 rows/s · 40 requests · 2 throttled',
      'removals (step 2/3) · 60,000 rows read · 3,500 objects sent · 10,000 rows/s · 47 requests · 2 throttled',
      '',
    ]);
    expect(output()).not.toContain('\r');
    expect(output()).not.toContain(ESCAPE);
  });

  it('does not repeat the last line at the end when it was just printed', () => {
    const { stream, output } = fakeStream(false);
    const reporter = createProgressReporter(stream, { clock: () => 0 });
    reporter.onProgress(progress(10, 5));
    reporter.done();
    expect(
      output()
        .split('\n')
        .filter((line) => line !== ''),
    ).toHaveLength(1);
  });

  it('redraws one line in place on a terminal and ends it with a newline', () => {
    let now = 0;
    const { stream, chunks, output } = fakeStream(true);
    const reporter = createProgressReporter(stream, { clock: () => now });
    reporter.onProgress(progress(0, 0));
    now = 1000;
    reporter.onProgress(progress(1_500, 75));
    reporter.done();
    expect(chunks).toHaveLength(3);
    expect(chunks[1]).toBe(
      `\r[#-------------------] reading (step 1/3) · 1,500 rows read · 75 objects sent · 1,500 rows/s${ESCAPE}[K`,
    );
    expect(output().indexOf('\n')).toBe(output().length - 1);
  });

  it('fills the bar while reading by the share of the export read, then by phase', () => {
    const { stream, chunks } = fakeStream(true);
    const reporter = createProgressReporter(stream, { clock: () => 0 });
    reporter.onProgress(progress(100, 0, { readFraction: 0 }));
    reporter.onProgress(progress(5_000, 4_000, { readFraction: 0.5 }));
    reporter.onProgress(progress(10_000, 8_000, { readFraction: 1 }));
    reporter.onProgress(progress(10_000, 9_000, { phase: 'removals', readFraction: 1 }));
    reporter.onProgress(progress(10_000, 9_000, { phase: 'committing', readFraction: 1 }));
    const bars = chunks.map((chunk) => /\[([#-]+)\]/.exec(chunk)![1]);
    expect(bars).toEqual([
      '#-------------------',
      '########------------',
      '################----',
      '################----',
      '###################-',
    ]);
    expect(chunks[1]).toContain('reading (step 1/3, 50 % of the export read)');
  });
});

describe('progress of a real run (Azurite and the Braze sandbox)', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack();
  });
  afterAll(async () => stack?.stop());

  it('reports the share of the export read, moving during reading and reaching 1', async () => {
    const options: GeneratorOptions = { profiles: 3_000, seed: 5, rowsPerPartition: 400 };
    const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
    await writeExport(containerSink(stack.exportContainer), 'Ci/Progress', { ...options, segments: config.segments });
    const updates: ProgressUpdate[] = [];
    const outcome = await stack.executor({ exportPath: 'Ci/Progress', exportConfig: config, progressIntervalInMs: 0 })({
      runId: newRunId(Date.now()),
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' },
      deadline: Date.now() + 600_000,
      logger: new MemoryLogger(),
      onProgress: (update) => updates.push(update),
    });
    expect(outcome.kind).toBe('completed');
    const shares = updates.filter((u) => u.phase === 'reading').map((u) => u.readFraction!);
    expect(shares.every((share, i) => share >= 0 && share <= 1 && (i === 0 || share >= shares[i - 1]))).toBe(true);
    expect(shares.filter((share) => share > 0.1 && share < 0.9).length).toBeGreaterThan(2);
    expect(updates.at(-1)!.readFraction).toBe(1);
  });
});
