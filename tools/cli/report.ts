import type { RunPlan } from '../../shared/run/artifacts';
import { phasesText } from '../../shared/report/runReport';
import { describeStateChange } from '../../shared/state/mappingChange';
import { membershipsText, savingText, sentWord } from '../../shared/report/wording';
import type { RunRecord, RunSummary } from '../../shared/run/types';

const number = (value: number) => value.toLocaleString('en-US');

/** A short human-readable report of a run summary, for the terminal. */
export function formatSummary(summary: RunSummary): string {
  const seconds = summary.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(summary.profilesRead / seconds) : summary.profilesRead;
  const verb = sentWord(summary);
  const lines = [
    `run ${summary.runId}: ${summary.status}${summary.dryRun ? ' (dry run: nothing sent)' : ''}` +
      (summary.fullResync ? ' (full resync)' : '') +
      (summary.alreadySynced ? ' (export already synced: nothing to do)' : ''),
    ...(summary.caller ? [`  started by          ${summary.caller}`] : []),
    `  rows read           ${number(summary.profilesRead)} in ${seconds.toFixed(1)} s (${number(rate)}/s), ` +
      `across ${summary.segments.length} segment table(s): a profile is a row in each of its segments`,
    `  users ${verb.padEnd(14)}${number(summary.usersSent)} (${number(summary.objectsSent)} objects, ${number(summary.requests)} requests)`,
    `  attributes ${verb.padEnd(9)}${number(summary.attributesSent)} (${savingText(summary)})`,
    `  memberships         ${membershipsText(summary)}` +
      (summary.membershipsRemovalHeld ? ` (${number(summary.membershipsRemovalHeld)} removals held)` : ''),
    `  unchanged           ${number(summary.unchanged)}`,
    `  skipped             ${number(summary.skipped)}${reasons(summary.skippedReasons)}`,
    `  rejected            ${number(summary.rejected)}${reasons(summary.rejectedReasons)}`,
    `  throttled / retries ${number(summary.throttled)} / ${number(summary.retries)}`,
    `  time                ${phasesText(summary)}`,
    ...describeStateChange(summary.stateChange).map((line) => `  state: ${line}`),
  ];
  for (const segment of summary.segments) {
    const change = summary.fullResync
      ? `${number(segment.added)} resent -${number(segment.removed)}`
      : `+${number(segment.added)} -${number(segment.removed)}`;
    lines.push(
      `  segment ${segment.table} (${segment.brazeSegmentApiId}): ${number(segment.members)} members, ${change}` +
        (segment.heldReason ? `\n    HELD: ${segment.heldReason}` : ''),
    );
  }
  return lines.join('\n');
}

function reasons(byReason: Record<string, number>): string {
  const entries = Object.entries(byReason);
  if (entries.length === 0) return '';
  return ` (${entries.map(([reason, count]) => `${reason}: ${number(count)}`).join('; ')})`;
}

export function formatRecord(record: RunRecord): string {
  const startedBy = record.request.caller ? ` by ${record.request.caller}` : '';
  const head = `run ${record.runId}: ${record.status} (${record.request.trigger}${startedBy}, created ${record.createdAt})`;
  const error = record.error ? `\n  error: ${record.error}` : '';
  // Failed and interrupted runs have a summary too (how far they got): the error still belongs under it.
  if (record.summary) return formatSummary(record.summary) + error;
  const progress = record.progress
    ? `\n  ${record.progress.phase}: ${number(record.progress.rowsRead)} rows read, ${number(record.progress.objectsSent)} objects sent`
    : '';
  return head + progress + error;
}

/** The change plan of a dry run as a table: what each attribute would get, and sample changes (hashed ids). */
export function formatPlan(plan: RunPlan): string {
  const width = Math.max(9, ...Object.keys(plan.attributes).map((name) => name.length));
  const lines = [
    'change plan (nothing was sent):',
    ...(plan.identity
      ? [
          `  identity changes: identify ${number(plan.identity.identify)}, rename ${number(plan.identity.rename)}, ` +
            `merge ${number(plan.identity.merge)}`,
        ]
      : []),
    `  ${'attribute'.padEnd(width)}  ${'set'.padStart(9)}  ${'cleared'.padStart(9)}`,
  ];
  for (const [name, counts] of Object.entries(plan.attributes)) {
    lines.push(`  ${name.padEnd(width)}  ${number(counts.set).padStart(9)}  ${number(counts.cleared).padStart(9)}`);
  }
  if (plan.samples.length > 0) lines.push('  sample changes (user: hashed id):');
  for (const sample of plan.samples) {
    const changes = Object.entries(sample.changes).map(([name, change]) => `${name} ${change}`);
    lines.push(`    ${sample.user}: ${changes.join(', ')}`);
  }
  return lines.join('\n');
}
