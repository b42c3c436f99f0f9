import { exportConfigHash } from '../config/exportConfig';
import { ConfigError } from '../config/errors';
import { discoverExport } from '../source';
import type { ExportDescriptor } from '../source/types';
import { planMappingChange, type MappingChange } from '../state/mappingChange';
import { legacyStateKey, stateKey, stateScope } from '../state/stateKey';
import { loadSnapshotMeta, type SnapshotMeta } from '../state/snapshotStore';
import { writeRunReport } from '../report/runReport';
import { loadCheckpoint, writeRunResults } from './artifacts';
import { callerForLogs } from './caller';
import { completeCommittedRun, isAlreadySynced } from './commit';
import { bindExportVersion, readMembershipKeys, sentMembershipsBlobName, type SentMembership } from './exportPin';
import { checkConfigAgainstExport, logStateChange, selectSegments } from './planning';
import type { StepContext } from './stepContext';
import type { RunRequest, RunSummary } from './types';

/** What a run step works on, once its export version, snapshot meta and checkpoint are known. */
export interface OpenedStep {
  /** The state key (stateKey) the next snapshot is saved under. */
  key: string;
  /** Where the previous snapshot is read from: the state key, or the legacy key it takes over. */
  snapshotKey: string;
  meta: SnapshotMeta | null;
  /** The run request, a full resync when the export version the run started with is gone. */
  request: RunRequest;
  descriptor: ExportDescriptor;
  /** Segment indexes the request names, and those whose members may leave (plus dropped segments). */
  selected: ReadonlySet<number>;
  covered: ReadonlySet<number>;
  layout: MappingChange;
  configHash: string;
  /** Memberships earlier steps sent from an export version that is gone (issue 23.1). */
  lostMembershipKeys: SentMembership[];
}

type Completed = { kind: 'completed'; summary: RunSummary };

/**
 * Opens a run step: discovers the export, binds the run to its export version, reads the snapshot's meta and the
 * checkpoint. Completed at once when the run had committed, or the export is already synced.
 */
export async function openStep(ctx: StepContext): Promise<OpenedStep | Completed> {
  const { deps, input, logger, clock, progress, resume } = ctx;
  const { settings, exportConfig, exportContainer, stateContainer } = deps;
  const { runId } = input;
  const startedAtMs = clock();

  const selected = selectSegments(exportConfig, input.request);
  const key = stateKey(stateScope(settings, exportConfig));
  const configHash = exportConfigHash(exportConfig);
  progress.configHash = configHash;
  // Three independent reads, at once: each is a round trip to storage.
  const [discovered, saved, own] = await Promise.all([
    discoverExport(exportContainer, settings.ciExportPath, {
      logger,
      settleTimeInMs: settings.sourceSettleTimeInMs,
      now: clock,
    }),
    loadCheckpoint(stateContainer, runId),
    loadSnapshotMeta(stateContainer, key),
  ]);
  // A state with no snapshot yet takes over the one saved under the key used before state keys, once.
  const snapshotKey = own ? key : legacyStateKey(exportConfig, settings.brazeRestEndpoint);
  const meta = own ?? (await loadSnapshotMeta(stateContainer, snapshotKey));
  // A run finishes against the export version it started with (issue 23.1).
  const bound = await bindExportVersion(stateContainer, exportContainer, runId, discovered, logger);
  const descriptor = bound.descriptor;
  // What earlier steps sent came from rows that can no longer be read: send everything of the newest export.
  const sentBefore = saved !== null && (saved.settledBelow > 0 || saved.unsettled.length > 0);
  const request = bound.kind === 'gone' && sentBefore ? { ...input.request, fullResync: true } : input.request;
  // ...and every user it sent a membership for leaves the segments the newest export does not put them in.
  resume.membershipKeysBlob = sentMembershipsBlobName(key, runId);
  const lostMembershipKeys =
    bound.kind === 'gone' && sentBefore && !request.dryRun
      ? await readMembershipKeys(stateContainer, resume.membershipKeysBlob)
      : [];
  checkConfigAgainstExport(exportConfig, descriptor, selected, settings.ciExportPath);
  if (meta?.runId === runId && !request.dryRun) {
    // A takeover after this run's own commit: its summary is final, completed here, never replaced.
    const committed = await completeCommittedRun(ctx, saved);
    if (committed) return committed;
  }
  const layout = planMappingChange(meta, exportConfig, { removeUnmapped: request.removeUnmapped === true });
  progress.stateChange = layout.change;
  const { change, segmentIds } = layout;
  if (request.segments?.length && (change.membershipValueChanged || change.onLeaveChanged)) {
    throw new ConfigError('run request', [
      'segments: membership.value or membership.onLeave changed since the last run; run all segments once, so ' +
        'that every segment gets the new value',
    ]);
  }
  progress.comparedWithPreviousState = meta !== null && !request.fullResync;
  // Segments dropped from the config are covered by runs of every segment: their members leave.
  const covered = new Set(selected);
  if (!request.segments?.length) for (const segment of layout.droppedSegments) covered.add(segment);
  progress.startSegments(segmentIds.length);

  resume.start(saved, runId, descriptor.fingerprint, `${key}:${configHash}`, startedAtMs);
  logger.log('info', 'run started', {
    runId,
    stateKey: key,
    configHash,
    exportMetadata: descriptor.metadataBlob,
    exportFingerprint: descriptor.fingerprint,
    segments: [...selected].map((s) => exportConfig.segments[s].table).join(','),
    dryRun: request.dryRun,
    fullResync: request.fullResync,
    resumeFrom: resume.resumeFrom,
    caller: callerForLogs(request.caller),
  });

  if (
    meta &&
    !request.fullResync &&
    !request.allowMassRemoval &&
    layout.droppedSegments.length === 0 &&
    layout.clearedAttributes.length === 0 &&
    isAlreadySynced(
      meta,
      descriptor.fingerprint,
      configHash,
      [...selected].map((s) => segmentIds[s]),
    )
  ) {
    const summary = progress.summarize(request, descriptor, [], true, resume.checkpoint);
    await writeRunResults(stateContainer, summary, [], null);
    await writeRunReport(stateContainer, summary, [], { exportContainer, exportConfig });
    logger.log('info', 'run finished: export already synced, nothing to send', { runId });
    return { kind: 'completed' as const, summary };
  }
  logStateChange(logger, key, layout);
  return { key, snapshotKey, meta, request, descriptor, selected, covered, layout, configHash, lostMembershipKeys };
}
