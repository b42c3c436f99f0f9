import { formatDuration } from '../../shared/report/runReport';
import type { RunRecord } from '../../shared/run/types';

const COLUMNS = [
  'started (UTC)',
  'duration',
  'trigger',
  'status',
  'rows',
  'users sent',
  'data points',
  'rejected',
  'held',
  'run id',
] as const;
const RIGHT_ALIGNED = new Set(['rows', 'users sent', 'data points', 'rejected', 'held']);

/**
 * `runs` as a table, newest first: start, duration, trigger and caller, status (dry runs marked), rows read,
 * users sent (would send, for a dry run), data points, rejected rows, held removals; then the error of failed runs.
 */
export function formatRunsTable(records: readonly RunRecord[]): string {
  if (records.length === 0) return 'no runs yet';
  const rows = records.map(runRow);
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (RIGHT_ALIGNED.has(COLUMNS[i]) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const lines = [line(COLUMNS), ...rows.map(line)];
  const errors = records.filter((r) => r.error ?? r.lastError);
  for (const record of errors) lines.push(`${record.runId}: ${record.error ?? `retrying: ${record.lastError}`}`);
  return lines.join('\n');
}

function runRow(record: RunRecord): string[] {
  const s = record.summary;
  const started = record.startedAt ?? record.createdAt;
  const end = record.finishedAt ?? (record.status === 'running' ? record.updatedAt : undefined);
  const duration = s ? s.durationMs : end ? Date.parse(end) - Date.parse(started) : undefined;
  const caller = record.request.caller ? ` (${record.request.caller})` : '';
  const mode = [record.request.dryRun ? 'dry run' : '', record.request.fullResync ? 'full resync' : '']
    .filter(Boolean)
    .join(', ');
  const n = (value: number | undefined) => (value === undefined ? '-' : value.toLocaleString('en-US'));
  return [
    started
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, '')
      .replace(/Z$/, ''),
    duration === undefined ? '-' : formatDuration(duration),
    `${record.request.trigger}${caller}`,
    `${record.status}${mode ? ` (${mode})` : ''}`,
    n(s?.profilesRead ?? record.progress?.rowsRead),
    s ? `${n(s.usersSent)}${s.dryRun ? ' (would)' : ''}` : '-',
    n(s?.attributesSent),
    n(s?.rejected),
    n(s?.membershipsRemovalHeld),
    record.runId,
  ];
}
