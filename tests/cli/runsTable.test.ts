import type { RunRecord, RunSummary } from '../../shared/run/types';
import { formatRunsTable } from '../../tools/cli/runsTable';

const request = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'timer' as const };

function record(overrides: Partial<RunRecord>, summary?: Partial<RunSummary>): RunRecord {
  return {
    runId: '20261128T033000Z-1a2b3c4d',
    status: 'succeeded',
    request,
    createdAt: '2026-11-28T03:30:00.000Z',
    startedAt: '2026-11-28T03:30:02.000Z',
    updatedAt: '2026-11-28T03:31:00.000Z',
    invocations: 1,
    summary: summary
      ? ({
          dryRun: false,
          profilesRead: 19_085,
          usersSent: 900,
          attributesSent: 3_100,
          rejected: 0,
          membershipsRemovalHeld: 0,
          durationMs: 65_000,
          ...summary,
        } as RunSummary)
      : undefined,
    ...overrides,
  };
}

describe('runs table', () => {
  it('shows start, duration, trigger and caller, status, rows, users sent, data points, rejected, held', () => {
    const table = formatRunsTable([
      record(
        {
          runId: '20261128T033000Z-00000001',
          status: 'held',
          request: { ...request, trigger: 'cli', caller: 'ops@pc' },
        },
        { rejected: 4, membershipsRemovalHeld: 2_345 },
      ),
      record(
        { runId: '20261128T033000Z-00000002', request: { ...request, dryRun: true, fullResync: true } },
        { dryRun: true },
      ),
      record({
        runId: '20261128T033000Z-00000003',
        status: 'failed',
        finishedAt: '2026-11-28T03:30:09.500Z',
        error: 'the run stopped: container "x" (CI_EXPORT_CONTAINER) does not exist',
      }),
      record({
        runId: '20261128T033000Z-00000004',
        status: 'running',
        progress: { phase: 'reading', rowsRead: 5_000, objectsSent: 10, updatedAt: '2026-11-28T03:31:00.000Z' },
      }),
    ]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(
      /^started \(UTC\)\s+duration\s+trigger\s+status\s+rows\s+users sent\s+data points\s+rejected\s+held\s+run id$/,
    );
    const cells = (line: string) => line.split(/\s{2,}/);
    expect(cells(lines[1])).toEqual([
      '2026-11-28 03:30:02',
      '1 min 5 s',
      'cli (ops@pc)',
      'held',
      '19,085',
      '900',
      '3,100',
      '4',
      '2,345',
      '20261128T033000Z-00000001',
    ]);
    expect(cells(lines[2]).slice(2, 6)).toEqual(['timer', 'succeeded (dry run, full resync)', '19,085', '900 (would)']);
    expect(cells(lines[3]).slice(1, 5)).toEqual(['7.5 s', 'timer', 'failed', '-']);
    expect(cells(lines[4]).slice(1, 5)).toEqual(['58.0 s', 'timer', 'running', '5,000']);
    expect(lines[5]).toBe(
      '20261128T033000Z-00000003: the run stopped: container "x" (CI_EXPORT_CONTAINER) does not exist',
    );
  });

  it('says so when there is no run', () => {
    expect(formatRunsTable([])).toBe('no runs yet');
  });
});
