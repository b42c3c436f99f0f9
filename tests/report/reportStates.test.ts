import { emptyCounters } from '../../shared/run/outcome';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { renderRunReport, reportStatus, sortRejected } from '../../shared/report/runReport';
import type { RejectedRow } from '../../shared/run/artifacts';
import type { RunContext, RunSummary } from '../../shared/run/types';
import { formatSummary } from '../../tools/cli/report';
import { renderInChromium } from './chromium';

const context: RunContext = {
  exportFolders: ['Ci/Feed/HighValueSegment/2026/11/28/0200', 'Ci/Feed/LoyalGold/2026/11/28/0200'],
  configHash: '39cf478f39dc42fc',
  comparedWithPreviousState: true,
  request: {
    dryRun: false,
    fullResync: false,
    allowMassRemoval: true,
    segments: ['HighValueSegment'],
    trigger: 'cli',
    caller: 'ops@build-7',
  },
};

function summary(overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    runId: '20261128T121500Z-1a2b3c4d',
    status: 'succeeded',
    dryRun: false,
    fullResync: false,
    exportFingerprint: 'f00d',
    exportMetadataBlob: 'Ci/Feed/model.json',
    alreadySynced: false,
    ...emptyCounters(),
    profilesRead: 19_085,
    usersSent: 900,
    objectsSent: 950,
    attributesSent: 3_100,
    attributesFullResend: 84_000,
    membershipsAdded: 400,
    membershipsRemoved: 150,
    removalObjectsSent: 140,
    unchanged: 18_000,
    requests: 13,
    segments: [
      { table: 'HighValueSegment', brazeSegmentApiId: 'a', members: 10_000, added: 300, removed: 100, removalsHeld: 0 },
      { table: 'LoyalGold', brazeSegmentApiId: 'b', members: 9_085, added: 100, removed: 50, removalsHeld: 0 },
    ],
    skippedReasons: {},
    rejectedReasons: {},
    phaseMs: { starting: 300, reading: 4_000, removals: 500, committing: 70 },
    timeline: [],
    startedAt: '2026-11-28T12:15:00.000Z',
    finishedAt: '2026-11-28T12:15:05.200Z',
    durationMs: 5200,
    context,
    ...overrides,
  };
}

const badge = (html: string) => /<span class="status" style="background:(#[0-9a-f]{6})">([^<]*)<\/span>/.exec(html)!;
const section = (html: string, id: string) => new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html)![1];

describe('report states and honest numbers', () => {
  it.each([
    ['a clean run', {}, '#1a7f37', 'succeeded'],
    ['a dry run', { dryRun: true }, '#8250df', 'dry run: nothing sent'],
    ['a dry run with rejected rows', { dryRun: true, rejected: 4 }, '#8250df', 'dry run: nothing sent'],
    ['a run with rejected rows', { rejected: 4 }, '#9a6700', 'succeeded, 4 rows rejected'],
    ['a held run', { status: 'held' as const, rejected: 4 }, '#b35900', 'held'],
    ['a failed run', { status: 'failed' as const }, '#cf222e', 'failed'],
  ])('%s gets its own badge', (_name, overrides, color, label) => {
    const html = renderRunReport(summary(overrides), []);
    expect(badge(html).slice(1)).toEqual([color, label]);
    expect(reportStatus(summary(overrides))).toEqual({ color, label });
  });

  it('renders each state in headless Chromium with its badge, the context block and no page problem', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'report-states-'));
    try {
      const states: Array<[Partial<RunSummary>, string]> = [
        [{ dryRun: true }, 'dry run: nothing sent'],
        [{ rejected: 2 }, 'succeeded, 2 rows rejected'],
        [{ status: 'held' }, 'held'],
        [{ status: 'failed' }, 'failed'],
      ];
      for (const [overrides, label] of states) {
        const file = path.join(folder, `${label.replace(/\W+/g, '-')}.html`);
        writeFileSync(file, renderRunReport(summary(overrides), [], { configFile: 'config.json' }));
        const page = renderInChromium(file);
        expect(page.problems).toEqual([]);
        expect(badge(page.dom)[2]).toBe(label);
        expect(badge(page.dom)[1]).toBe(reportStatus(summary(overrides)).color);
        expect(section(page.dom, 'context')).toContain('cli (ops@build-7)');
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('says rows read (not profiles), and what a dry run would send', () => {
    const html = renderRunReport(summary({ dryRun: true }), []);
    const overview = section(html, 'overview');
    expect(overview).toContain('Rows read');
    expect(overview).not.toContain('Profiles read');
    expect(overview).toContain('Users that would be sent');
    expect(overview).not.toContain('Users sent');
    expect(formatSummary(summary({ dryRun: true }))).toMatch(/\n {2}users would send {4}900 /);
  });

  it('compares with a full resend only where an earlier state was compared with', () => {
    const delta = renderRunReport(summary(), []);
    expect(section(delta, 'overview')).toContain('96.3 % fewer than a full resend');
    const first = summary({ context: { ...context, comparedWithPreviousState: false } });
    expect(renderRunReport(first, [])).not.toContain('fewer than a full resend');
    expect(section(renderRunReport(first, []), 'overview')).toContain('first sync: no earlier state to compare with');
    expect(formatSummary(first)).toContain('first sync: no earlier state to compare with');
    const resync = summary({ fullResync: true, context: { ...context, comparedWithPreviousState: false } });
    const resyncHtml = renderRunReport(resync, []);
    expect(resyncHtml).not.toContain('fewer than a full resend');
    expect(section(resyncHtml, 'overview')).toContain('400 resent / −150');
    expect(formatSummary(resync)).toContain('memberships         400 resent / -150'.replace('-', '−'));
    expect(formatSummary(resync)).not.toContain('+400');
  });

  it('shows the context block: export, folders, config hash and file, compared with, caller, flags', () => {
    const html = renderRunReport(summary(), [], {
      metadataModifiedAt: '2026-11-28T02:07:31.000Z',
      configFile: 'config.json',
    });
    const block = section(html, 'context');
    expect(block).toContain('<code>Ci/Feed/model.json</code>, written 2026-11-28 02:07:31 UTC');
    expect(block).toContain('<code>Ci/Feed/HighValueSegment/2026/11/28/0200</code><br><code>Ci/Feed/LoyalGold');
    expect(block).toContain('hash <code>39cf478f39dc42fc</code> · <a href="config.json">config.json</a>');
    expect(block).toContain('the state of the previous sync under this config');
    expect(block).toContain('cli (ops@build-7)');
    expect(block).toContain('allow mass removal, segments: HighValueSegment');
  });

  it('sorts rejected rows by blob and line and groups them by reason, the commonest first', () => {
    const row = (seq: number, blob: string | undefined, line: number | undefined, reason: string): RejectedRow => ({
      seq,
      stage: blob ? 'source' : 'braze',
      blob,
      line,
      reason,
    });
    const rows = [
      row(9, 'b.csv', 3, 'EMAIL_BAD_FORMAT'),
      row(1, undefined, undefined, 'EMAIL_BAD_FORMAT'),
      row(5, 'a.csv', 20, 'column count 14, expected 15'),
      row(4, 'a.csv', 7, 'EMAIL_BAD_FORMAT'),
    ];
    expect(sortRejected(rows).map((r) => r.seq)).toEqual([4, 5, 9, 1]);
    const html = renderRunReport(summary({ rejected: 4, rejectedReasons: { EMAIL_BAD_FORMAT: 3, other: 1 } }), rows);
    const table = /<table id="rejected-rows">([\s\S]*?)<\/table>/.exec(html)![1];
    const groups = [...table.matchAll(/<tr class="reason"><th colspan="6">([^<]*)<\/th><\/tr>/g)].map((m) => m[1]);
    expect(groups).toEqual(['EMAIL_BAD_FORMAT (3)', 'column count 14, expected 15 (1)']);
    const blobsInFirstGroup = [
      ...table.split('<tbody>')[1].matchAll(/<tr><td><code>([^<]*)<\/code><\/td><td class="n">([^<]*)</g),
    ].map((m) => `${m[1]}:${m[2]}`);
    expect(blobsInFirstGroup).toEqual(['a.csv:7', 'b.csv:3', '—:—']);
  });
});
