import type { RunSummary } from '../run/types';

/**
 * Words for a run's numbers that do not mislead, shared by the CLI, the report and the logs: a dry run "would send",
 * a full resync "resent", and "fewer than a full resend" only when an earlier sync was compared with.
 */
type Numbers = Pick<
  RunSummary,
  'dryRun' | 'fullResync' | 'attributesSent' | 'attributesFullResend' | 'membershipsAdded' | 'context'
>;

/** "sent" or "would send" (dry run). */
export function sentWord(s: Pick<RunSummary, 'dryRun'>): string {
  return s.dryRun ? 'would send' : 'sent';
}

/** Attributes sent against a full resend, or why there is nothing to compare with. */
export function savingText(s: Numbers): string {
  if (s.fullResync) return 'full resync: every attribute resent';
  if (s.context && !s.context.comparedWithPreviousState) return 'first sync: no earlier state to compare with';
  if (s.attributesFullResend === 0) return 'nothing to compare with';
  const saved = 100 - (s.attributesSent / s.attributesFullResend) * 100;
  return (
    `${saved.toFixed(1)} % fewer than a full resend (${s.attributesFullResend.toLocaleString('en-US')})` +
    (s.dryRun ? ', if sent' : '')
  );
}

/** Memberships written: "+12 / −3", or "1,234 resent" on a full resync (every member, not new members). */
export function membershipsText(s: Numbers & Pick<RunSummary, 'membershipsRemoved'>): string {
  const n = (value: number) => value.toLocaleString('en-US');
  if (s.fullResync) return `${n(s.membershipsAdded)} resent / −${n(s.membershipsRemoved)}`;
  return `+${n(s.membershipsAdded)} / −${n(s.membershipsRemoved)}`;
}
