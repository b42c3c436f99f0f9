import type { RunProgress } from '../../shared/run/types';

export type ProgressUpdate = RunProgress & { requests?: number; throttled?: number };

export interface ProgressReporter {
  onProgress(progress: ProgressUpdate): void;
  /**
   * Ends the display: with the run's final progress (phase `finished`), a last line at 100 %; without (the run
   * failed or was interrupted), the last state as it was, the redrawn line finished on a terminal.
   */
  done(final?: RunProgress): void;
}

export interface ProgressReporterOptions {
  clock?: () => number;
  /** How often a plain line is printed when the stream is not a terminal (logs, CI). Default 5,000. */
  plainIntervalInMs?: number;
}

const PHASES: ReadonlyArray<RunProgress['phase']> = ['reading', 'removals', 'committing'];
const BAR_WIDTH = 20;

/**
 * Shows a run's progress on the CLI: one line redrawn in place on a terminal, and a plain line every few seconds
 * elsewhere, so piped output and CI logs stay readable. The rate is rows read per second since the last update.
 */
export function createProgressReporter(
  stream: NodeJS.WriteStream,
  options: ProgressReporterOptions = {},
): ProgressReporter {
  const clock = options.clock ?? Date.now;
  const plainInterval = options.plainIntervalInMs ?? 5000;
  const interactive = stream.isTTY === true;
  let previous: { atMs: number; rowsRead: number } | null = null;
  let ratePerSecond = 0;
  let latest: ProgressUpdate | null = null;
  let lastPlainAt = Number.NEGATIVE_INFINITY;
  let latestPrinted = false;
  let redrawn = false;

  return {
    onProgress(progress) {
      const now = clock();
      if (previous && now > previous.atMs) {
        ratePerSecond = ((progress.rowsRead - previous.rowsRead) / (now - previous.atMs)) * 1000;
      }
      previous = { atMs: now, rowsRead: progress.rowsRead };
      latest = progress;
      if (interactive) {
        const line = describe(progress, ratePerSecond, true);
        const columns = stream.columns ?? 120;
        stream.write(`\r${line.length > columns - 1 ? line.slice(0, columns - 1) : line}\x1b[K`);
        redrawn = true;
      } else if (now - lastPlainAt >= plainInterval) {
        lastPlainAt = now;
        stream.write(`${describe(progress, ratePerSecond, false)}\n`);
        latestPrinted = true;
        return;
      }
      latestPrinted = false;
    },
    done(final) {
      if (final?.phase === 'finished') {
        const line = describe(final, ratePerSecond, interactive);
        stream.write(interactive ? `\r${line}\x1b[K\n` : `${line}\n`);
      } else if (interactive) {
        if (redrawn) stream.write('\n');
      } else if (latest && !latestPrinted) {
        stream.write(`${describe(latest, ratePerSecond, false)}\n`);
      }
      latestPrinted = true;
      redrawn = false;
    },
  };
}

function describe(progress: ProgressUpdate, ratePerSecond: number, withBar: boolean): string {
  if (progress.phase === 'finished') {
    // The run's final counts; a rate over the whole run would mix in reading and commit time, so none is shown.
    const bar = withBar ? `[${'#'.repeat(BAR_WIDTH)}] ` : '';
    return [
      `${bar}finished (100 %)`,
      `${count(progress.rowsRead)} rows read`,
      `${count(progress.objectsSent)} objects sent`,
    ].join(' · ');
  }
  const step = PHASES.indexOf(progress.phase) + 1;
  const bar = withBar ? `[${progressBar(progress)}] ` : '';
  const share = progress.phase === 'reading' && progress.readFraction !== undefined;
  const parts = [
    `${bar}${progress.phase} (step ${step}/${PHASES.length}${share ? `, ${Math.floor(progress.readFraction! * 100)} % of the export read` : ''})`,
    `${count(progress.rowsRead)} rows read`,
    `${count(progress.objectsSent)} objects sent`,
    `${count(ratePerSecond)} rows/s`,
  ];
  if (progress.requests !== undefined) parts.push(`${count(progress.requests)} requests`);
  if (progress.throttled !== undefined) parts.push(`${count(progress.throttled)} throttled`);
  return parts.join(' · ');
}

/**
 * Reading (rows are sent as they are read) fills the bar up to 80 % by the share of the export's bytes read;
 * removals and the commit take the rest. Without a read share (an older worker), the bar moves by phase only.
 */
function progressBar(progress: ProgressUpdate): string {
  const start: Record<RunProgress['phase'], number> = { reading: 0, removals: 0.8, committing: 0.95, finished: 1 };
  const share =
    progress.phase === 'reading' && progress.readFraction !== undefined
      ? progress.readFraction * 0.8
      : progress.readFraction !== undefined
        ? start[progress.phase]
        : PHASES.indexOf(progress.phase) / PHASES.length;
  const filled = Math.min(BAR_WIDTH, Math.max(1, Math.round(BAR_WIDTH * share)));
  return '#'.repeat(filled).padEnd(BAR_WIDTH, '-');
}

function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
