import { ConfigError } from '../config/errors';
import type { ExportConfig } from '../config/exportConfig';
import { missingColumns } from '../mapping/profileMapper';
import type { ExportDescriptor } from '../source/types';
import { DeltaPlanner, roomForNewUsers } from '../state/diff';
import { clearRawFingerprints, remapSnapshot, type MappingChange } from '../state/mappingChange';
import { Snapshot } from '../state/snapshot';
import { loadSnapshot } from '../state/snapshotStore';
import type { Logger } from '../telemetry/logger';
import { assumeMembers } from './exportPin';
import type { StepContext } from './stepContext';
import type { OpenedStep } from './stepStart';
import type { RunRequest } from './types';

/** The planner of a step, with what the commit and the shrink guard need to know about the snapshot it took over. */
export interface LoadedPlanner {
  planner: DeltaPlanner;
  /** Version of the snapshot the planner took over (`LoadedSnapshot.version`): what the next one can patch. */
  loadedVersion: string | null;
  /** Members per segment the shrink guard compares with, when not the planner's previous ones (issue 23.1). */
  guardMembers: number[] | null;
}

/** Loads the previous snapshot (remapped to the config's layout when it changed) into a new delta planner. */
export async function loadPlanner(ctx: StepContext, step: OpenedStep): Promise<LoadedPlanner> {
  const { exportConfig, stateContainer } = ctx.deps;
  const { meta, layout, request, covered, lostMembershipKeys } = step;
  const { segmentIds, attributeNames, change } = layout;
  // Loaded with room for new users: the planner changes it into the next snapshot in place.
  const extraUsers = meta ? roomForNewUsers(meta.users) : 0;
  const loaded = meta ? await loadSnapshot(stateContainer, step.snapshotKey, { extraUsers }) : null;
  let previous = loaded?.snapshot ?? null;
  if (loaded && !layout.sameLayout) previous = remapSnapshot(loaded.snapshot, layout, extraUsers);
  else if (loaded && !layout.rawFingerprintsValid) clearRawFingerprints(loaded.snapshot);
  // A snapshot whose layout or raw fingerprints changed is saved whole: a patch would carry the old ones.
  let loadedVersion = layout.sameLayout && layout.rawFingerprintsValid ? (loaded?.version ?? null) : null;
  let guardMembers: number[] | null = null;
  if (lostMembershipKeys.length > 0) {
    previous ??= Snapshot.create({ segmentCount: segmentIds.length, attributeCount: attributeNames.length });
    // The shrink guard compares with what Braze held before this run, not with what it assumes here.
    guardMembers = previous.segmentMemberCounts();
    assumeMembers(previous, lostMembershipKeys, segmentIds, covered);
    // Assumed memberships differ from the stored snapshot where a patch would not look: save it whole.
    loadedVersion = null;
  }
  const planner = new DeltaPlanner(exportConfig, attributeNames, segmentIds, covered, previous, request.fullResync, {
    resendMemberships: change.membershipValueChanged,
    resendLeaves: change.onLeaveChanged,
    clearedAttributes: layout.clearedAttributes,
  });
  return { planner, loadedVersion, guardMembers };
}

/** Segment indexes a run covers: all, or those named by table or Braze segment id. */
export function selectSegments(config: ExportConfig, request: RunRequest): Set<number> {
  if (!request.segments || request.segments.length === 0) return new Set(config.segments.map((_, i) => i));
  const selected = new Set<number>();
  const unknown: string[] = [];
  for (const name of request.segments) {
    const index = config.segments.findIndex((s) => s.table === name || s.brazeSegmentApiId === name);
    if (index < 0) unknown.push(name);
    else selected.add(index);
  }
  if (unknown.length > 0) {
    throw new ConfigError('run request', [
      `segments: unknown segment(s) ${unknown.map((n) => `"${n}"`).join(', ')}; configured: ` +
        config.segments.map((s) => s.table).join(', '),
    ]);
  }
  return selected;
}

/** Unknown tables and columns are reported against the export before anything is sent (design §5). */
export function checkConfigAgainstExport(
  config: ExportConfig,
  descriptor: ExportDescriptor,
  selected: ReadonlySet<number>,
  exportPath: string,
): void {
  const problems: string[] = [];
  for (const index of selected) {
    const table = config.segments[index].table;
    const entity = descriptor.entities.get(table);
    if (!entity) {
      problems.push(
        `segments[${index}].table: "${table}" is not in ${descriptor.metadataBlob}; tables found: ` +
          ([...descriptor.entities.keys()].join(', ') || 'none'),
      );
      continue;
    }
    for (const column of missingColumns(config, entity)) {
      problems.push(`table ${table} in ${descriptor.metadataBlob} has no column "${column}" named by the config`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`export config against the export in ${exportPath}`, problems);
}

/** Says what the run starts from: a fresh state, or the snapshot with what changed in the mapping. */
export function logStateChange(logger: Logger, key: string, layout: MappingChange): void {
  const { change } = layout;
  if (change.fresh) {
    logger.log('info', 'no snapshot for this export, Braze workspace and identity config: starting fresh', {
      stateKey: key,
    });
    return;
  }
  if (layout.sameLayout && !change.membershipValueChanged && !change.onLeaveChanged) return;
  const leftInBraze = change.attributesDropped.filter((name) => !change.attributesRemoved.includes(name));
  logger.log('info', 'export config mapping changed since the last run: reconciling', {
    segmentsAdded: change.segmentsAdded.join(','),
    segmentsDropped: change.segmentsDropped.join(','),
    attributesAdded: change.attributesAdded.join(','),
    attributesRemoved: change.attributesRemoved.join(','),
    attributesLeftInBraze: leftInBraze.join(','),
    membershipValueChanged: change.membershipValueChanged,
    onLeaveChanged: change.onLeaveChanged,
  });
}
