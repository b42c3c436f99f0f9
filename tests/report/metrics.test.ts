import { emptyCounters } from '../../shared/run/outcome';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { logRunMetrics, runMetrics, RUN_METRICS_MESSAGE } from '../../shared/telemetry/metrics';

const summary: RunSummary = {
  runId: '20261128T121500Z-1a2b3c4d',
  status: 'succeeded',
  dryRun: false,
  fullResync: false,
  exportFingerprint: 'f00d',
  exportMetadataBlob: 'CustomerInsights_1/BrazeFeed/model.json',
  alreadySynced: false,
  ...emptyCounters(),
  profilesRead: 10_000,
  usersSent: 900,
  objectsSent: 950,
  attributesSent: 3_100,
  attributesFullResend: 84_000,
  membershipsAdded: 400,
  membershipsRemoved: 150,
  removalObjectsSent: 140,
  unchanged: 9_050,
  requests: 13,
  retries: 2,
  throttled: 1,
  segments: [
    {
      table: 'HighValueSegment',
      brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064',
      members: 8_000,
      added: 400,
      removed: 150,
      removalsHeld: 0,
    },
  ],
  skippedReasons: {},
  rejectedReasons: { 'user ann@example.com blocked': 0 },
  phaseMs: { starting: 300, reading: 40_000, removals: 5_000, committing: 700 },
  timeline: [{ atMs: 0, rowsRead: 0, objectsSent: 0, requests: 0, throttled: 0, retries: 0 }],
  startedAt: '2026-11-28T12:15:00.000Z',
  finishedAt: '2026-11-28T12:15:04.000Z',
  durationMs: 4000,
};

describe('run metrics', () => {
  it('are flat counts of the run that the workbook queries by name', () => {
    expect(runMetrics(summary)).toEqual({
      runId: summary.runId,
      status: 'succeeded',
      dryRun: false,
      fullResync: false,
      alreadySynced: false,
      profilesRead: 10_000,
      usersSent: 900,
      objectsSent: 950,
      attributesSent: 3_100,
      attributesFullResend: 84_000,
      comparedWithPreviousState: null,
      membershipsAdded: 400,
      membershipsRemoved: 150,
      membershipsRemovalHeld: 0,
      heldSegments: 0,
      unchanged: 9_050,
      skipped: 0,
      rejected: 0,
      emailsRejected: 0,
      identified: 0,
      renamed: 0,
      merged: 0,
      requests: 13,
      throttled: 1,
      retries: 2,
      durationMs: 4000,
      profilesPerSecond: 2500,
    });
  });

  it('log one line per run, at warn level when segments were held or rows rejected', () => {
    const logger = new MemoryLogger();
    logRunMetrics(logger, summary);
    logRunMetrics(logger, {
      ...summary,
      status: 'held',
      segments: [{ ...summary.segments[0], removalsHeld: 5, heldReason: 'shrank' }],
    });
    expect(logger.lines.map((l) => [l.level, l.message, l.properties?.heldSegments])).toEqual([
      ['info', RUN_METRICS_MESSAGE, 0],
      ['warn', RUN_METRICS_MESSAGE, 1],
    ]);
    // Reasons and segment names stay out of the metrics: they can be long, and they are in summary.json.
    expect(logger.text()).not.toContain('ann@example.com');
    expect(logger.text()).not.toContain('HighValueSegment');
  });
});
