import type { ContainerClient } from '@azure/storage-blob';
import { renderRunReport, writeRunReport } from '../../shared/report/runReport';
import { readRejectedRows, type RejectedRow } from '../../shared/run/artifacts';
import { newRunId } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import {
  containerSink,
  profilesAtRun,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startLocalStack, type LocalStack } from '../helpers/localStack';

function summary(overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    runId: '20261128T121500Z-1a2b3c4d',
    status: 'held',
    dryRun: false,
    fullResync: false,
    exportFingerprint: 'f00d',
    exportMetadataBlob: 'CustomerInsights_1/BrazeFeed/model.json',
    alreadySynced: false,
    profilesRead: 120_000,
    duplicateRows: 12,
    usersSent: 9_000,
    objectsSent: 9_500,
    attributesSent: 31_000,
    attributesFullResend: 840_000,
    membershipsAdded: 4_000,
    membershipsRemoved: 1_500,
    removalObjectsSent: 1_400,
    membershipsRemovalHeld: 2_345,
    unchanged: 110_400,
    skipped: 70,
    rejected: 18,
    sourceRowsRejected: 3,
    emailsRejected: 0,
    identified: 0,
    renamed: 0,
    merged: 0,
    requests: 131,
    retries: 9,
    throttled: 7,
    segments: [
      {
        table: 'HighValueSegment',
        brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064',
        members: 80_000,
        added: 3_000,
        removed: 1_500,
        removalsHeld: 0,
      },
      {
        table: 'ChurnRisk',
        brazeSegmentApiId: 'd4c3b2a1-0f9e-4d8c-b7a6-958473625140',
        members: 1_000,
        added: 1_000,
        removed: 0,
        removalsHeld: 2_345,
        heldReason: 'segment ChurnRisk shrank by 70.1 % (3345 -> 1000 members)',
      },
    ],
    skippedReasons: { 'no external id and whenExternalIdMissing is skip': 70 },
    rejectedReasons: { EMAIL_BAD_FORMAT: 15, 'column count 14, expected 15': 3 },
    phaseMs: { starting: 300, reading: 40_000, removals: 5_000, committing: 700 },
    timeline: [
      { atMs: 0, rowsRead: 0, objectsSent: 0, requests: 0, throttled: 0, retries: 0 },
      { atMs: 2000, rowsRead: 50_000, objectsSent: 4_000, requests: 55, throttled: 0, retries: 0 },
      { atMs: 4000, rowsRead: 90_000, objectsSent: 7_000, requests: 95, throttled: 7, retries: 7 },
      { atMs: 5200, rowsRead: 120_000, objectsSent: 9_500, requests: 131, throttled: 7, retries: 9 },
    ],
    startedAt: '2026-11-28T12:15:00.000Z',
    finishedAt: '2026-11-28T12:15:05.200Z',
    durationMs: 5200,
    ...overrides,
  };
}

const rejectedRows: RejectedRow[] = [
  {
    seq: 17,
    stage: 'source',
    blob: 'CustomerInsights_1/BrazeFeed/HighValueSegment/2026/11/28/0200/HighValueSegment_1.csv',
    line: 42,
    reason: 'column count 14, expected 15',
  },
  {
    seq: 99,
    stage: 'braze',
    blob: 'CustomerInsights_1/BrazeFeed/HighValueSegment/2026/11/28/0200/HighValueSegment_1.csv',
    line: 120,
    column: 'PrimaryEmail',
    reason: 'EMAIL_BAD_FORMAT',
    idHash: '0a1b2c3d4e5f',
  },
];

/** Text inside one `<section id="...">`, to check that a figure shows up where it belongs. */
function section(html: string, id: string): string {
  const match = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html);
  if (!match) throw new Error(`section ${id} missing`);
  return match[1];
}

describe('run report', () => {
  it('renders every section from a summary with a timeline and rejected rows', () => {
    const html = renderRunReport(summary(), rejectedRows);
    const overview = section(html, 'overview');
    expect(overview).toContain('20261128T121500Z-1a2b3c4d');
    expect(overview).toContain('held');
    expect(overview).toContain('120,000');
    expect(overview).toContain('2,345 removals held back');

    const segments = section(html, 'segments');
    expect(segments).toContain('HighValueSegment');
    expect(segments).toContain('80,000');
    expect(segments).toContain('shrank by 70.1 %');
    expect(segments).toMatch(/<tr class="held">[\s\S]*ChurnRisk/);

    // 31,000 of 840,000: 96.3 % saved
    expect(section(html, 'attributes')).toContain('96.3 % fewer than a full resend');
    expect(section(html, 'rows')).toContain('no external id and whenExternalIdMissing is skip');

    // rows read per second between samples: 50,000 / 2 s = 25,000; 40,000 / 2 s = 20,000; 30,000 / 1.2 s = 25,000
    const throughput = section(html, 'throughput');
    expect(throughput).toContain('<svg');
    expect(throughput.match(/<polyline/g)).toHaveLength(2);
    expect(throughput).toContain('rows read / s');
    const rowsLine = /<polyline[^>]*stroke="#0969da"[^>]*points="([^"]+)"/.exec(throughput)![1].split(' ');
    expect(rowsLine).toHaveLength(4);

    const throttling = section(html, 'throttling');
    expect(throttling).toContain('7 answered 429');
    expect(throttling.match(/<polyline/g)).toHaveLength(2);

    const rejected = section(html, 'rejected');
    expect(rejected).toMatch(/EMAIL_BAD_FORMAT<\/td><td class="n">15/);
    expect(rejected).toContain('HighValueSegment_1.csv');
    expect(rejected).toContain('0a1b2c3d4e5f');
    expect(rejected).toContain('PrimaryEmail');
    expect(rejected).toContain('42');
  });

  it('says so instead of drawing a chart when a run was too short for progress samples', () => {
    const html = renderRunReport(summary({ status: 'succeeded', rejected: 0, rejectedReasons: {}, timeline: [] }), []);
    expect(section(html, 'throughput')).toContain('Too few progress samples');
    expect(section(html, 'throughput')).not.toContain('<svg');
    expect(section(html, 'rejected')).toContain('No row was rejected');
  });

  it('escapes HTML in table names, reasons and blob names', () => {
    const hostile = '<script>alert("x")</script>';
    const html = renderRunReport(
      summary({
        segments: [{ ...summary().segments[0], table: hostile, heldReason: `shrank <b>a lot</b> & "more"` }],
        rejectedReasons: { [`bad value <img onerror=x> in 'col'`]: 2 },
      }),
      [{ seq: 1, stage: 'mapping', blob: `folder/<i>.csv`, line: 3, column: `<u>`, reason: hostile }],
    );
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<(b|i|u)>/);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('shrank &lt;b&gt;a lot&lt;/b&gt; &amp; &quot;more&quot;');
    expect(html).toContain('bad value &lt;img onerror=x&gt; in &#39;col&#39;');
  });

  it('references no external resource and runs no script', () => {
    const html = renderRunReport(summary(), rejectedRows);
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/\bhref\s*=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toMatch(/@import/i);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\bon[a-z]+\s*=/i);
  });

  it('masks an email address that slipped into a reason', () => {
    const html = renderRunReport(summary({ rejectedReasons: { 'user jane.doe@example.com is blocked': 1 } }), [
      { seq: 1, stage: 'braze', reason: 'user jane.doe@example.com is blocked' },
    ]);
    expect(html).not.toContain('jane.doe@example.com');
    expect(html).toContain('user [email] is blocked');
  });
});

describe('run report of a real run (Azurite and the Braze sandbox)', () => {
  const EXPORT_PATH = 'CustomerInsights_7e1f/BrazeFeed';
  const options: GeneratorOptions = { profiles: 300, seed: 7, externalIdMissingPercent: 10, emailMissingPercent: 5 };
  const profiles = [...profilesAtRun(options, 0)];
  // Braze refuses these members, so the run has rejected rows that name them (hashed).
  const blocked = profiles
    .filter((p) => p.segments.length > 0)
    .map((p) => p.brazeCustomerId)
    .filter((id): id is string => id !== null)
    .slice(0, 5);
  let stack: LocalStack;
  let stateContainer: ContainerClient;

  beforeAll(async () => {
    stack = await startLocalStack({ rateLimit: null, blocklistedExternalIds: blocked, logBodies: false });
    stateContainer = stack.stateContainer;
    await writeExport(containerSink(stack.exportContainer), EXPORT_PATH, options);
  });
  afterAll(async () => stack?.stop());

  it('holds no email, external id or customer id of the input, and is stored as text/html', async () => {
    const config = sampleExportConfig(options);
    const executor = stack.executor({
      exportPath: EXPORT_PATH,
      exportConfig: config,
      settings: { BRAZE_BATCH_SIZE: '10' },
      progressIntervalInMs: 0,
    });
    const runId = newRunId(Date.now());
    const outcome = await executor({
      runId,
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' },
      deadline: Date.now() + 60_000,
      logger: new MemoryLogger(),
    });
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    const rejected = await readRejectedRows(stateContainer, runId);
    expect(rejected.filter((row) => row.stage === 'braze').length).toBeGreaterThanOrEqual(blocked.length);

    const blobName = await writeRunReport(stateContainer, outcome.summary, rejected);
    expect(blobName).toBe(`runs/${runId}/report.html`);
    const blob = stateContainer.getBlobClient(blobName);
    expect((await blob.getProperties()).contentType).toBe('text/html; charset=utf-8');
    const html = (await blob.downloadToBuffer()).toString('utf8');

    expect(section(html, 'rejected')).toContain(rejected[0].idHash ?? rejected[0].reason);
    const identifiers = profiles.flatMap((p) => [p.email, p.brazeCustomerId, p.customerId]);
    const leaked = identifiers.filter((value): value is string => value !== null && html.includes(value));
    expect(leaked).toEqual([]);
    expect(html).not.toMatch(/[^\s@<>"']+@[^\s@<>"']+\.[a-z]{2,}/i);
  });
});
