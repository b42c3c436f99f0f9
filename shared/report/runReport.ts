import type { ContainerClient } from '@azure/storage-blob';
import type { ExportConfig } from '../config/exportConfig';
import { runBlobName, type RejectedRow } from '../run/artifacts';
import type { RunStatus, RunSummary, TimelineSample } from '../run/types';
import { lineChart, type ChartSeries } from './svgChart';
import { membershipsText, savingText } from './wording';

/** Rows listed in the report; the full list stays in `rejected.ndjson`. */
export const REJECTED_ROWS_SHOWN = 100;

const STATUS_COLORS: Record<RunStatus | 'dry run' | 'rejected rows', string> = {
  succeeded: '#1a7f37',
  'rejected rows': '#9a6700',
  held: '#b35900',
  failed: '#cf222e',
  'dry run': '#8250df',
  running: '#0969da',
  queued: '#57606a',
  interrupted: '#9a6700',
};

/**
 * The badge: a dry run is never a green "succeeded" (nothing was sent), and a run that rejected rows is not plain
 * green either. Failed and held keep their colours whatever else is true.
 */
export function reportStatus(s: Pick<RunSummary, 'status' | 'dryRun' | 'rejected'>): { label: string; color: string } {
  if (s.status === 'failed' || s.status === 'held') {
    return { label: s.dryRun ? `${s.status} (dry run)` : s.status, color: STATUS_COLORS[s.status] };
  }
  if (s.dryRun) return { label: 'dry run: nothing sent', color: STATUS_COLORS['dry run'] };
  if (s.rejected > 0) {
    return { label: `succeeded, ${count(s.rejected)} rows rejected`, color: STATUS_COLORS['rejected rows'] };
  }
  return { label: s.status, color: STATUS_COLORS[s.status] };
}

/** What the report shows beside the summary: read when the report is written. */
export interface ReportDetails {
  /** Last-modified time of model.json (or the manifest), ISO. */
  metadataModifiedAt?: string;
  /** Name of the export config stored beside the report, e.g. `config.json`. */
  configFile?: string;
}

/**
 * The run report: one self-contained HTML page (inline CSS and SVG, no scripts, no external assets) that an
 * operator opens from the state container. It shows counts, hashed ids and where rows came from, never values.
 */
export function renderRunReport(
  summary: RunSummary,
  rejected: readonly RejectedRow[],
  details: ReportDetails = {},
): string {
  const sections = [
    overviewSection(summary),
    contextSection(summary, details),
    segmentsSection(summary),
    `<div class="pair">${attributesSection(summary)}${rowsSection(summary)}</div>`,
    throughputSection(summary.timeline),
    throttlingSection(summary),
    rejectedSection(summary, rejected),
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run ${text(summary.runId)}: ${text(reportStatus(summary).label)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${sections.join('\n')}
<footer>Files of this run: <code>runs/${text(summary.runId)}/summary.json</code>, <code>rejected.ndjson</code>${
    summary.dryRun ? ', <code>plan.json</code>' : ''
  }${details.configFile ? `, <code>${text(details.configFile)}</code>` : ''}, <code>report.html</code> in the state container.</footer>
</main>
</body>
</html>
`;
}

/**
 * Writes the report beside the run's other files, as `runs/<runId>/report.html`, with the export config it ran
 * with as `config.json` (linked from the report) and the time of the export's metadata blob.
 */
export async function writeRunReport(
  container: ContainerClient,
  summary: RunSummary,
  rejected: readonly RejectedRow[],
  sources: { exportContainer?: ContainerClient; exportConfig?: ExportConfig } = {},
): Promise<string> {
  const blobName = runBlobName(summary.runId, 'report.html');
  const [metadataModifiedAt, configFile] = await Promise.all([
    sources.exportContainer ? metadataTime(sources.exportContainer, summary.exportMetadataBlob) : undefined,
    sources.exportConfig ? storeConfig(container, summary.runId, sources.exportConfig) : undefined,
  ]);
  const html = renderRunReport(summary, sortRejected(rejected).slice(0, REJECTED_ROWS_SHOWN), {
    metadataModifiedAt,
    configFile,
  });
  await container.getBlockBlobClient(blobName).upload(html, Buffer.byteLength(html), {
    blobHTTPHeaders: { blobContentType: 'text/html; charset=utf-8' },
  });
  return blobName;
}

/** Rejected rows by blob, then line (rows without a blob, i.e. Braze's verdicts, last), then sequence. */
export function sortRejected(rows: readonly RejectedRow[]): RejectedRow[] {
  return [...rows].sort(
    (a, b) =>
      (a.blob === undefined ? 1 : 0) - (b.blob === undefined ? 1 : 0) ||
      (a.blob ?? '').localeCompare(b.blob ?? '') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      a.seq - b.seq,
  );
}

/** The metadata blob's last-modified time; undefined for a listing-only export or when it cannot be read. */
async function metadataTime(container: ContainerClient, blob: string): Promise<string | undefined> {
  if (!/\.json$/i.test(blob)) return undefined;
  try {
    return (await container.getBlobClient(blob).getProperties()).lastModified?.toISOString();
  } catch {
    // The report must not fail for a detail; the context block then says the time is unknown.
    return undefined;
  }
}

async function storeConfig(container: ContainerClient, runId: string, config: ExportConfig): Promise<string> {
  const json = JSON.stringify(config, null, 2);
  await container.getBlockBlobClient(runBlobName(runId, 'config.json')).upload(json, Buffer.byteLength(json), {
    blobHTTPHeaders: { blobContentType: 'application/json' },
  });
  return 'config.json';
}

function overviewSection(s: RunSummary): string {
  const seconds = s.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(s.profilesRead / seconds) : 0;
  const status = reportStatus(s);
  const flags = [
    s.dryRun ? 'dry run: nothing sent' : '',
    s.fullResync ? 'full resync' : '',
    s.alreadySynced ? 'export already synced: nothing to do' : '',
  ].filter((flag) => flag !== '');
  const cards: Array<[string, string, string?]> = [
    [
      'Rows read',
      count(s.profilesRead),
      `${s.segments.length} segment table(s), a profile in each of its segments; ${count(rate)} per second`,
    ],
    [s.dryRun ? 'Users that would be sent' : 'Users sent', count(s.usersSent), `${count(s.objectsSent)} objects`],
    [s.dryRun ? 'Attributes that would be sent' : 'Attributes sent', count(s.attributesSent), savingText(s)],
    ['Memberships', membershipsText(s), heldText(s)],
    ['Rejected rows', count(s.rejected), s.rejected > 0 ? 'see below and rejected.ndjson' : 'none'],
    ['Requests', count(s.requests), `${count(s.throttled)} throttled (429), ${count(s.retries)} retries`],
  ];
  return `<section id="overview">
<h1>Run <code>${text(s.runId)}</code> <span class="status" style="background:${status.color}">${text(
    status.label,
  )}</span></h1>
${s.error ? `<p class="error"><strong>Stopped:</strong> ${text(s.error)} (the counts below are how far it got)</p>\n` : ''}<p class="meta">${text(formatTime(s.startedAt))} → ${text(formatTime(s.finishedAt))} (${text(
    formatDuration(s.durationMs),
  )}; last step: ${text(phasesText(s))})${flags.map((flag) => ` · <strong>${text(flag)}</strong>`).join('')}${
    s.caller ? ` · started by <code>${text(s.caller)}</code>` : ''
  }<br>Export <code>${text(s.exportMetadataBlob)}</code></p>
<div class="cards">${cards
    .map(
      ([label, value, note]) =>
        `<div class="card"><div class="label">${text(label)}</div><div class="value">${text(value)}</div>${
          note ? `<div class="note">${text(note)}</div>` : ''
        }</div>`,
    )
    .join('')}</div>
</section>`;
}

/** Which export, which config, started how and by whom, with which flags. */
function contextSection(s: RunSummary, details: ReportDetails): string {
  const context = s.context;
  if (!context) return '';
  const request = context.request;
  const flags = [
    request.dryRun ? 'dry run' : '',
    request.fullResync ? 'full resync' : '',
    request.allowMassRemoval ? 'allow mass removal' : '',
    request.segments && request.segments.length > 0 ? `segments: ${request.segments.join(', ')}` : '',
  ].filter((flag) => flag !== '');
  const rows: Array<[string, string]> = [
    [
      'CI export',
      `<code>${text(s.exportMetadataBlob)}</code>, ${
        details.metadataModifiedAt ? `written ${text(formatTime(details.metadataModifiedAt))}` : 'metadata time unknown'
      }`,
    ],
    ['Export folders', context.exportFolders.map((folder) => `<code>${text(folder)}</code>`).join('<br>') || '—'],
    [
      'Export config',
      `hash <code>${text(context.configHash)}</code>${
        details.configFile
          ? ` · <a href="${text(details.configFile)}">${text(details.configFile)}</a> (<code>runs/${text(
              s.runId,
            )}/${text(details.configFile)}</code> in the state container)`
          : ''
      }`,
    ],
    [
      'Compared with',
      context.comparedWithPreviousState
        ? 'the state of the previous sync under this config'
        : request.fullResync
          ? 'nothing: full resync'
          : 'nothing: first sync under this config',
    ],
    ['Started by', `${text(request.trigger)}${request.caller ? ` (${text(request.caller)})` : ''}`],
    ['Flags', flags.length > 0 ? text(flags.join(', ')) : 'none'],
  ];
  return `<section id="context">
<h2>Context</h2>
<table class="narrow"><tbody>${rows.map(([label, value]) => `<tr><th>${text(label)}</th><td>${value}</td></tr>`).join('')}</tbody></table>
</section>`;
}

function segmentsSection(s: RunSummary): string {
  if (s.segments.length === 0) {
    return `<section id="segments"><h2>Segments</h2><p class="empty">No segment was processed in this run.</p></section>`;
  }
  const rows = s.segments.map(
    (segment) => `<tr${segment.heldReason ? ' class="held"' : ''}>
<td>${text(segment.table)}</td><td><code>${text(segment.brazeSegmentApiId)}</code></td>
<td class="n">${count(segment.members)}</td><td class="n">+${count(segment.added)}</td><td class="n">−${count(
      segment.removed,
    )}</td>
<td>${segment.heldReason ? `<strong>${count(segment.removalsHeld)} held</strong>: ${text(segment.heldReason)}` : '—'}</td>
</tr>`,
  );
  return `<section id="segments">
<h2>Segments</h2>
<table><thead><tr><th>CI table</th><th>Braze segment (membership attribute)</th><th class="n">Members</th><th class="n">Added</th><th class="n">Removed</th><th>Removals held</th></tr></thead>
<tbody>${rows.join('')}</tbody></table>
</section>`;
}

function attributesSection(s: RunSummary): string {
  const full = Math.max(s.attributesFullResend, s.attributesSent);
  const width = 480;
  const barWidth = (value: number) => (full > 0 ? Math.max(1, Math.round((value / full) * (width - 230))) : 0);
  const bars = [
    { label: s.dryRun ? 'Would send (changed)' : 'Sent (changed only)', value: s.attributesSent, color: '#0969da' },
    { label: 'A full resend', value: s.attributesFullResend, color: '#8c959f' },
  ];
  const svg = `<svg width="${width}" height="76" viewBox="0 0 ${width} 76" role="img" aria-label="attributes sent compared with a full resend">
${bars
  .map(
    (bar, i) =>
      `<text x="0" y="${22 + i * 34}" class="axis">${text(bar.label)}</text>` +
      `<rect x="150" y="${8 + i * 34}" width="${barWidth(bar.value)}" height="22" fill="${bar.color}"/>` +
      `<text x="${156 + barWidth(bar.value)}" y="${24 + i * 34}" class="axis">${count(bar.value)}</text>`,
  )
  .join('\n')}
</svg>`;
  return `<section id="attributes">
<h2>Attributes ${s.dryRun ? 'that would be sent' : 'sent'} vs a full resend</h2>
<p>Only changed attributes and memberships are sent; each one is a Braze data point. ${text(sentence(savingText(s)))}.</p>
${svg}
</section>`;
}

function rowsSection(s: RunSummary): string {
  const outcomes: Array<[string, number]> = [
    ['Rows read', s.profilesRead],
    ['Unchanged (nothing to send)', s.unchanged],
    [s.dryRun ? 'Objects that would be sent' : 'Objects sent and accepted', s.objectsSent],
    ['Repeated rows of a user already read', s.duplicateRows],
    ["Rows sent within the same user's object of a later row", s.rowsMerged ?? 0],
    ['Skipped', s.skipped],
    ['Rejected (source, mapping or Braze)', s.rejected],
    ['… of which unreadable source rows', s.sourceRowsRejected],
    ['Delivered without their invalid email', s.emailsRejected],
    ['Identity changes: identified', s.identified],
    ['Identity changes: renamed', s.renamed],
    ['Identity changes: merged', s.merged],
  ];
  return `<section id="rows">
<h2>Rows</h2>
<table class="narrow"><tbody>${outcomes
    .map(([label, value]) => `<tr><td>${text(label)}</td><td class="n">${count(value)}</td></tr>`)
    .join('')}</tbody></table>
${reasonTable('Skipped rows by reason', s.skippedReasons, 'skipped')}
</section>`;
}

function throughputSection(timeline: readonly TimelineSample[]): string {
  const rows = ratesOf(timeline, (sample) => sample.rowsRead);
  const objects = ratesOf(timeline, (sample) => sample.objectsSent);
  const series: ChartSeries[] = [
    { name: 'rows read / s', color: '#0969da', points: rows },
    { name: 'objects sent / s', color: '#1a7f37', points: objects },
  ];
  return `<section id="throughput">
<h2>Throughput over time</h2>
${
  rows.length < 2
    ? `<p class="empty">Too few progress samples for a chart (the run was shorter than a sampling interval).</p>`
    : lineChart({ series, xLabel: 'seconds since the step started', yLabel: 'per second' })
}
</section>`;
}

function throttlingSection(s: RunSummary): string {
  const cumulative = (pick: (sample: TimelineSample) => number) =>
    s.timeline.map((sample): [number, number] => [sample.atMs / 1000, pick(sample)]);
  const series: ChartSeries[] = [
    { name: 'throttled (429), cumulative', color: '#cf222e', points: cumulative((sample) => sample.throttled) },
    { name: 'retries, cumulative', color: '#b35900', points: cumulative((sample) => sample.retries) },
  ];
  const chart =
    s.timeline.length < 2
      ? `<p class="empty">Too few progress samples for a chart.</p>`
      : lineChart({ series, xLabel: 'seconds since the step started', yLabel: 'count', wholeNumbers: true });
  return `<section id="throttling">
<h2>Throttling and retries</h2>
<p>${count(s.requests)} requests to Braze; ${count(s.throttled)} answered 429 (rate limited) and waited as Braze asked; ${count(
    s.retries,
  )} retries in all (429, 5xx, timeouts, connection errors).</p>
${chart}
</section>`;
}

function rejectedSection(s: RunSummary, rejected: readonly RejectedRow[]): string {
  const shown = sortRejected(rejected).slice(0, REJECTED_ROWS_SHOWN);
  const groups = new Map<string, RejectedRow[]>();
  for (const row of shown) groups.set(row.reason, [...(groups.get(row.reason) ?? []), row]);
  const ordered = [...groups].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  const list =
    shown.length === 0
      ? ''
      : `<h3>Rejected rows by reason, by blob and line${
          s.rejected > shown.length ? ` (first ${count(shown.length)} of ${count(s.rejected)})` : ''
        }</h3>
<table id="rejected-rows"><thead><tr><th>Blob</th><th class="n">Line</th><th>Column</th><th>Stage</th><th>User (hashed id)</th><th class="n">#</th></tr></thead>
${ordered
  .map(
    ([reason, rows]) =>
      `<tbody><tr class="reason"><th colspan="6">${text(reason)} (${count(rows.length)})</th></tr>` +
      rows
        .map(
          (row) =>
            `<tr><td><code>${text(row.blob ?? '—')}</code></td>` +
            `<td class="n">${row.line === undefined ? '—' : count(row.line)}</td><td>${text(row.column ?? '—')}</td>` +
            `<td>${text(row.stage)}</td><td><code>${text(row.idHash ?? '—')}</code></td><td class="n">${count(row.seq)}</td></tr>`,
        )
        .join('') +
      '</tbody>',
  )
  .join('\n')}</table>`;
  return `<section id="rejected">
<h2>Rejected rows</h2>
${
  s.rejected === 0
    ? '<p class="empty">No row was rejected.</p>'
    : `<p>Rejected rows are tried again on the next run. Fix the data in Customer Insights (or the mapping) for rows that keep failing.</p>
${reasonTable('By reason', s.rejectedReasons, 'rejected')}
${list}`
}
</section>`;
}

function reasonTable(title: string, byReason: Record<string, number>, id: string): string {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (entries.length === 0) return '';
  return `<h3>${text(title)}</h3>
<table class="narrow" id="${id}-reasons"><thead><tr><th>Reason</th><th class="n">Rows</th></tr></thead>
<tbody>${entries.map(([reason, n]) => `<tr><td>${text(reason)}</td><td class="n">${count(n)}</td></tr>`).join('')}</tbody></table>`;
}

/** Per-second rates between consecutive samples, at the end of each interval. */
function ratesOf(
  timeline: readonly TimelineSample[],
  pick: (sample: TimelineSample) => number,
): Array<[number, number]> {
  const sorted = [...timeline].sort((a, b) => a.atMs - b.atMs);
  const points: Array<[number, number]> = [];
  for (let i = 1; i < sorted.length; i++) {
    const seconds = (sorted[i].atMs - sorted[i - 1].atMs) / 1000;
    if (seconds <= 0) continue;
    points.push([sorted[i].atMs / 1000, Math.max(0, (pick(sorted[i]) - pick(sorted[i - 1])) / seconds)]);
  }
  if (points.length > 0 && sorted.length > 0) points.unshift([sorted[0].atMs / 1000, points[0][1]]);
  return points;
}

function sentence(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

function heldText(s: RunSummary): string {
  return s.membershipsRemovalHeld > 0 ? `${count(s.membershipsRemovalHeld)} removals held back` : 'no removal held';
}

function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatTime(iso: string): string {
  return iso
    ? iso
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')
        .replace(/Z$/, ' UTC')
    : '—';
}

/** Where the run's last step spent its time: "start 0.3 s, reading 5.5 s, removals 0.5 s, commit 0.2 s". */
export function phasesText(s: Pick<RunSummary, 'phaseMs'>): string {
  const { starting, reading, removals, committing } = s.phaseMs;
  return `start ${formatDuration(starting)}, reading ${formatDuration(reading)}, removals ${formatDuration(
    removals,
  )}, commit ${formatDuration(committing)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return minutes < 60 ? `${minutes} min ${seconds} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const EMAIL_PATTERN = /[^\s@<>"'(),;:]+@[^\s@<>"'(),;:]+\.[a-z]{2,}/gi;

/**
 * Escapes text for HTML. Email-shaped text is masked as well: reasons come from Braze and from other modules,
 * and a report is shared more widely than logs, so it must not carry an address even if one slipped into a reason.
 */
export function text(value: string): string {
  return value
    .replace(EMAIL_PATTERN, '[email]')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
body{margin:0;background:#f6f8fa;color:#1f2328;font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:0 0 16px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
code{font:12px ui-monospace,Consolas,monospace;background:#f6f8fa;padding:1px 4px;border-radius:4px}
.status{color:#fff;border-radius:12px;padding:2px 10px;font-size:14px;vertical-align:middle}
.meta{color:#57606a;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{flex:1 1 120px;min-width:0;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}
.card .label{color:#57606a;font-size:12px}.card .value{font-size:22px;font-weight:600}.card .note{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%}table.narrow{width:auto;min-width:360px}
th,td{border-bottom:1px solid #d8dee4;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums}
tr.held td{background:#fff8c5}tr.reason th{background:#fff8c5}td code{word-break:break-all}
.empty{color:#57606a;font-style:italic}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:16px}.pair section{margin:0 0 16px}
svg{max-width:100%;height:auto}svg .axis{font-size:11px;fill:#57606a}svg .grid{stroke:#d8dee4;stroke-width:1}
footer{color:#57606a;font-size:12px;margin-top:8px}
`;
