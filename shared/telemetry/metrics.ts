import type { RunSummary } from '../run/types';
import type { LogLevel, LogProperties, Logger } from './logger';

/**
 * The message of the one line a finished run logs with its metrics. The workbook (infra/workbook.bicep) and
 * docs/operations.md query Application Insights `traces` for it, so it is a contract: do not reword it.
 */
export const RUN_METRICS_MESSAGE = 'run metrics';

/**
 * Custom metrics of a finished run, the Functions way: properties of one structured log line, which the
 * Functions host sends to Application Insights as a trace (no extra SDK). Counts and the run id only: a run id
 * is a timestamp plus random bits, and the summary holds no user identifier, email or attribute value.
 */
export function runMetrics(summary: RunSummary): LogProperties {
  const seconds = summary.durationMs / 1000;
  return {
    runId: summary.runId,
    status: summary.status,
    dryRun: summary.dryRun,
    fullResync: summary.fullResync,
    alreadySynced: summary.alreadySynced,
    profilesRead: summary.profilesRead,
    usersSent: summary.usersSent,
    objectsSent: summary.objectsSent,
    attributesSent: summary.attributesSent,
    attributesFullResend: summary.attributesFullResend,
    // A saving against a full resend means something only when an earlier sync was compared with.
    comparedWithPreviousState: summary.context?.comparedWithPreviousState ?? null,
    membershipsAdded: summary.membershipsAdded,
    membershipsRemoved: summary.membershipsRemoved,
    membershipsRemovalHeld: summary.membershipsRemovalHeld,
    heldSegments: summary.segments.filter((segment) => segment.heldReason).length,
    unchanged: summary.unchanged,
    skipped: summary.skipped,
    rejected: summary.rejected,
    emailsRejected: summary.emailsRejected,
    identified: summary.identified,
    renamed: summary.renamed,
    merged: summary.merged,
    requests: summary.requests,
    throttled: summary.throttled,
    retries: summary.retries,
    durationMs: summary.durationMs,
    profilesPerSecond: seconds > 0 ? Math.round(summary.profilesRead / seconds) : 0,
  };
}

/** Logs `run metrics` once per finished run: warn when something needs a look (held, rejected rows), else info. */
export function logRunMetrics(logger: Logger, summary: RunSummary): void {
  const level: LogLevel =
    summary.status === 'failed' ? 'error' : summary.status === 'held' || summary.rejected > 0 ? 'warn' : 'info';
  logger.log(level, RUN_METRICS_MESSAGE, runMetrics(summary));
}
