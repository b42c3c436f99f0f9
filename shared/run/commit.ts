import { snapshotAttributeNames, type DeltaPlanner } from '../state/diff';
import {
  deleteSnapshotData,
  switchSnapshot,
  uploadSnapshotData,
  type SnapshotChanges,
  type SnapshotMeta,
  type StagedSnapshot,
} from '../state/snapshotStore';
import { writeRunReport } from '../report/runReport';
import { deleteCheckpoint, runBlobName, writeRunResults, type Checkpoint } from './artifacts';
import { deleteMembershipKeys } from './exportPin';
import { readJson } from './records';
import type { Sender } from './sending';
import type { StepContext } from './stepContext';
import type { OpenedStep } from './stepStart';
import { withStorageRetry } from './storageErrors';
import type { RunSummary } from './types';

/** The next snapshot's data, written while the removals are sent. */
export interface Staging {
  upload: Promise<StagedSnapshot>;
  /** `counters.rejected` when the upload began: a rejection since then changed the snapshot under it. */
  rejectionsBefore: number;
}

/** What the commit needs besides the opened step: the planner's result and what reading and the guard found. */
export interface CommitInput {
  planner: DeltaPlanner;
  /** Version of the snapshot the planner took over: what the next one can patch (null: saved whole). */
  loadedVersion: string | null;
  sender: Sender;
  segmentMembers: readonly number[];
  held: ReadonlyMap<number, string>;
  staging: Staging | null;
}

/** Starts writing the next snapshot's data; `rejectionsBefore` tells at the commit whether it went stale. */
export function stageSnapshot(
  ctx: StepContext,
  key: string,
  planner: DeltaPlanner,
  loadedVersion: string | null,
): Staging {
  const upload = withStorageRetry(`the snapshot of ${key}`, () =>
    uploadSnapshotData(ctx.deps.stateContainer, key, planner.next, {
      changes: snapshotChanges(planner, loadedVersion),
    }),
  );
  // Awaited at the commit; should the run stop before, its failure must not be an unhandled rejection.
  upload.catch(() => undefined);
  return { upload, rejectionsBefore: ctx.progress.counters.rejected };
}

/** What this run changed in the loaded snapshot: the save can then be a patch of it. None on a first run. */
function snapshotChanges(planner: DeltaPlanner, loadedVersion: string | null): SnapshotChanges | undefined {
  if (loadedVersion === null || planner.needsWholeSave) return undefined;
  return { loadedVersion, loadedUsers: planner.previousUsers, changedSlots: planner.changedSlots() };
}

/** A step that pauses before the commit leaves no staged data behind (the next step stages its own). */
export async function dropStaged(ctx: StepContext, staging: Staging | null): Promise<void> {
  const staged = await staging?.upload.catch(() => null);
  if (staged) await deleteSnapshotData(ctx.deps.stateContainer, staged);
}

/**
 * The commit (design §3): the summary is fixed, the snapshot pointer switched to the staged data, the results and
 * report written, and only then the checkpoint deleted.
 */
export async function commitRun(ctx: StepContext, step: OpenedStep, input: CommitInput) {
  const { deps, progress, resume, logger, clock } = ctx;
  const { stateContainer } = deps;
  const { key, request, descriptor, layout, covered, selected, meta, configHash } = step;
  const { planner, sender, staging, held, segmentMembers } = input;
  const { segmentIds } = layout;
  const previousMembers = planner.previousMemberCounts();
  const membersAfter = segmentIds.map((_, s) => (covered.has(s) ? segmentMembers[s] : previousMembers[s]));
  const segments = segmentIds.map((brazeSegmentApiId, index) => ({
    table: layout.segmentTables[index] || brazeSegmentApiId,
    brazeSegmentApiId,
    members: membersAfter[index],
    added: progress.segmentAdded[index],
    removed: progress.segmentRemoved[index],
    removalsHeld: progress.segmentHeld[index],
    heldReason: held.get(index),
  }));
  const next = planner.next;
  let staged = staging && (await staging.upload);
  if (staging && staged && staging.rejectionsBefore !== progress.counters.rejected) {
    // Braze rejected objects since the upload began: their users went back to their previous state.
    await deleteSnapshotData(stateContainer, staged);
    staged = await withStorageRetry(`the snapshot of ${key}`, () =>
      uploadSnapshotData(stateContainer, key, next, { changes: snapshotChanges(planner, input.loadedVersion) }),
    );
  }
  const summary = progress.summarize(request, descriptor, segments, false, resume.checkpoint);
  if (staged) {
    // The summary is final before the pointer switch: a takeover after it completes this one (completeCommittedRun).
    // Every object is answered: should the switch fail, a retry resends nothing.
    await sender.saveCheckpoint(sender.progressState(), { summary, rejected: progress.rejected });
    const selectedIds = [...selected].map((s) => segmentIds[s]);
    await switchSnapshot(stateContainer, key, staged, {
      configHash: key,
      exportFingerprint: descriptor.fingerprint,
      runId: ctx.input.runId,
      committedAt: new Date(clock()).toISOString(),
      segmentIds,
      attributeNames: snapshotAttributeNames(layout.attributeNames),
      users: next.size,
      // What Braze holds: held and rejected removals keep their members (a dropped segment is gone once at 0).
      segmentMembers: next.segmentMemberCounts(),
      pendingRejected: progress.counters.rejected + progress.counters.membershipsRemovalHeld,
      mapping: layout.mapping,
      exportConfigHash: configHash,
      syncedSegments: syncedSegmentsAfter(meta, descriptor.fingerprint, configHash, segmentIds, selectedIds),
    });
  }
  await Promise.all([
    writeRunResults(stateContainer, summary, progress.rejected, sender.dryRunPlan?.toJSON(summary) ?? null),
    writeRunReport(stateContainer, summary, progress.rejected, {
      exportContainer: deps.exportContainer,
      exportConfig: deps.exportConfig,
    }),
  ]);
  // Only once the results are written: a step that dies before resumes from the checkpoint.
  await deleteCheckpoint(stateContainer, ctx.input.runId);
  await deleteMembershipKeys(stateContainer, resume.membershipKeysBlob);
  logger.log('info', 'run step finished', {
    runId: ctx.input.runId,
    status: summary.status,
    durationMs: summary.durationMs,
  });
  return { kind: 'completed' as const, summary };
}

/**
 * The snapshot pointer names this run: it committed, and the step that did died before its results were written
 * (or before its checkpoint was deleted). Writes the summary the run fixed before the switch, as it was. Null when
 * there is none to complete (a checkpoint from before final summaries were kept).
 */
export async function completeCommittedRun(ctx: StepContext, saved: Checkpoint | null) {
  const { stateContainer } = ctx.deps;
  const { runId } = ctx.input;
  const final = saved?.final;
  let summary: RunSummary | undefined;
  if (final) {
    summary = final.summary;
    await Promise.all([
      writeRunResults(stateContainer, summary, final.rejected, null),
      writeRunReport(stateContainer, summary, final.rejected),
    ]);
  } else {
    summary = (await readJson<RunSummary>(stateContainer, runBlobName(runId, 'summary.json')))?.value;
    if (!summary || summary.runId !== runId || summary.status === 'failed') return null;
  }
  await deleteCheckpoint(stateContainer, runId);
  ctx.logger.log('info', 'run step finished: the run had committed; its summary is completed as it was', { runId });
  return { kind: 'completed' as const, summary };
}

/**
 * "Already synced": the snapshot was committed from this export version with the same config, its segments include
 * every segment asked for, and nothing is pending (rejected rows, held removals).
 */
export function isAlreadySynced(
  meta: SnapshotMeta,
  exportFingerprint: string,
  configHash: string,
  segmentIds: string[],
): boolean {
  return (
    meta.exportFingerprint === exportFingerprint &&
    meta.exportConfigHash === configHash &&
    meta.pendingRejected === 0 &&
    segmentIds.every((id) => meta.syncedSegments?.includes(id))
  );
}

/** The segments synced with this export version and config once this run commits: its own, plus earlier ones. */
function syncedSegmentsAfter(
  meta: SnapshotMeta | null,
  exportFingerprint: string,
  configHash: string,
  segmentIds: readonly string[],
  selectedIds: readonly string[],
): string[] {
  const synced = new Set(selectedIds);
  if (meta?.exportFingerprint === exportFingerprint && meta.exportConfigHash === configHash) {
    for (const id of meta.syncedSegments ?? []) if (segmentIds.includes(id)) synced.add(id);
  }
  return [...synced];
}
