import { createHash } from 'node:crypto';
import { canonicalJson, type ExportConfig } from '../config/exportConfig';
import { mappedAttributeNames } from '../mapping/profileMapper';
import { IDENTITY_ATTRIBUTE_NAMES, IDENTITY_WORDS } from './diff';
import { NO_RAW_FINGERPRINT, Snapshot } from './snapshot';

/**
 * The mapping a snapshot was built with, stored in its meta beside `segmentIds` and `attributeNames` (the layout of
 * its arrays): what the next run compares its config with.
 */
export interface SnapshotMapping {
  /** CI table per segment of `segmentIds`. */
  segmentTables: string[];
  /** CI column per attribute of `attributeNames`. */
  attributeColumns: string[];
  membership: ExportConfig['membership'];
  /** Hash of the config's attribute list in order: raw fingerprints are valid for the same list only. */
  rawFingerprintBasis: string;
}

/** The layout and mapping meta of a committed snapshot (the part of `SnapshotMeta` read here). */
export interface StoredLayout {
  segmentIds: string[];
  attributeNames: string[];
  segmentMembers: number[];
  mapping?: SnapshotMapping;
}

/** What changed between the snapshot's mapping and the config, as the summary and the plan report it. */
export interface StateChange {
  /** No snapshot for this export, Braze workspace and identity config: every value is sent, nothing removed. */
  fresh: boolean;
  segmentsAdded: string[];
  /** Segments no longer configured whose members still carry their membership attribute in Braze. */
  segmentsDropped: string[];
  attributesAdded: string[];
  attributesDropped: string[];
  /** Same CI column, new Braze attribute name (also listed as added and dropped). */
  attributesRenamed: Array<{ from: string; to: string }>;
  /** Dropped attributes whose values this run clears in Braze (`removeUnmapped`). */
  attributesRemoved: string[];
  membershipValueChanged: boolean;
  onLeaveChanged: boolean;
}

/** How a run maps the loaded snapshot onto its config, and what it must send besides the rows' changes. */
export interface MappingChange {
  change: StateChange;
  /** The run's layout: the config's segments, then dropped segments that still have members. */
  segmentIds: string[];
  segmentTables: string[];
  /** The config's attributes, then the dropped attributes this run clears. */
  attributeNames: string[];
  attributeColumns: string[];
  /** Per index of the run's layout, the index in the loaded snapshot, or -1 (new). */
  segmentSource: number[];
  attributeSource: number[];
  /** Layout indexes of dropped segments (they have no rows: all their members leave, behind the shrink guard). */
  droppedSegments: number[];
  /** Layout indexes of dropped attributes whose values this run clears. */
  clearedAttributes: number[];
  /** The loaded snapshot's raw fingerprints describe this config's rows (see ProfileMapper.readRaw). */
  rawFingerprintsValid: boolean;
  /** The loaded snapshot's arrays already have the run's layout: no remap needed. */
  sameLayout: boolean;
  /** Where the loaded snapshot keeps the CustomerId hash words (IDENTITY_WORDS), or -1 (a snapshot from before). */
  identitySource: number;
  mapping: SnapshotMapping;
}

export function rawFingerprintBasis(config: ExportConfig): string {
  return createHash('sha256')
    .update(canonicalJson({ email: config.identity.email, attributes: config.attributes }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Compares the stored layout (null: no snapshot) with the config. Segments are matched by Braze segment API id and
 * attributes by Braze attribute name: that is what Braze holds, whichever CI table or column fills it.
 */
export function planMappingChange(
  stored: StoredLayout | null,
  config: ExportConfig,
  options: { removeUnmapped: boolean },
): MappingChange {
  const previousSegments = stored?.segmentIds ?? [];
  const storedAttributes = stored?.attributeNames ?? [];
  // The identity words follow the attributes; they are the planner's, not a mapped attribute.
  const identitySource = storedAttributes.indexOf(IDENTITY_ATTRIBUTE_NAMES[0]);
  const previousAttributes = storedAttributes.filter((name) => !IDENTITY_ATTRIBUTE_NAMES.includes(name));
  const membersOf = (index: number) => stored?.segmentMembers[index] ?? 0;

  const segmentIds = config.segments.map((s) => s.brazeSegmentApiId);
  const segmentTables = config.segments.map((s) => s.table);
  const droppedSegments: number[] = [];
  previousSegments.forEach((id, index) => {
    if (segmentIds.includes(id) || membersOf(index) === 0) return;
    droppedSegments.push(segmentIds.length);
    segmentIds.push(id);
    segmentTables.push(stored?.mapping?.segmentTables[index] ?? '');
  });

  // The mapper's values: the email first (when mapped), then the configured attributes.
  const attributeNames = mappedAttributeNames(config);
  const attributeColumns = [
    ...(config.identity.email ? [config.identity.email] : []),
    ...config.attributes.map((a) => a.column),
  ];
  const dropped = previousAttributes.filter((name) => !attributeNames.includes(name));
  const clearedAttributes: number[] = [];
  if (options.removeUnmapped) {
    for (const name of dropped) {
      clearedAttributes.push(attributeNames.length);
      attributeColumns.push(stored?.mapping?.attributeColumns[previousAttributes.indexOf(name)] ?? '');
      attributeNames.push(name);
    }
  }

  const segmentSource = segmentIds.map((id) => previousSegments.indexOf(id));
  const attributeSource = attributeNames.map((name) => previousAttributes.indexOf(name));
  const mapping: SnapshotMapping = {
    segmentTables,
    attributeColumns,
    membership: config.membership,
    rawFingerprintBasis: rawFingerprintBasis(config),
  };
  const fresh = stored === null;
  const previousMembership = stored?.mapping?.membership ?? config.membership;
  const previousColumns = stored?.mapping?.attributeColumns ?? [];
  const added = attributeNames.filter((name) => !previousAttributes.includes(name));
  const change: StateChange = {
    fresh,
    segmentsAdded: fresh
      ? []
      : config.segments.map((s) => s.brazeSegmentApiId).filter((id) => !previousSegments.includes(id)),
    segmentsDropped: droppedSegments.map((index) => segmentIds[index]),
    attributesAdded: fresh ? [] : added,
    attributesDropped: dropped,
    attributesRenamed: dropped.flatMap((from) => {
      const column = previousColumns[previousAttributes.indexOf(from)];
      const to = config.attributes.find((a) => a.column === column && added.includes(a.brazeAttribute));
      return to ? [{ from, to: to.brazeAttribute }] : [];
    }),
    attributesRemoved: clearedAttributes.map((index) => attributeNames[index]),
    membershipValueChanged: !fresh && previousMembership.value !== config.membership.value,
    onLeaveChanged: !fresh && previousMembership.onLeave !== config.membership.onLeave,
  };
  return {
    change,
    segmentIds,
    segmentTables,
    attributeNames,
    attributeColumns,
    segmentSource,
    attributeSource,
    droppedSegments,
    clearedAttributes,
    rawFingerprintsValid: stored?.mapping?.rawFingerprintBasis === mapping.rawFingerprintBasis,
    sameLayout: sameList(segmentIds, previousSegments) && sameList(attributeNames, previousAttributes),
    identitySource,
    mapping,
  };
}

/** What a run starts from, in words, for the CLI and the report: nothing when the mapping is unchanged. */
export function describeStateChange(change: StateChange | undefined): string[] {
  if (!change) return [];
  if (change.fresh) {
    return [
      'starts fresh: no snapshot for this export, Braze workspace and identity config (every value is sent, ' +
        'nothing is removed)',
    ];
  }
  const lines: string[] = [];
  const list = (label: string, names: readonly string[]) => {
    if (names.length > 0) lines.push(`${label}: ${names.join(', ')}`);
  };
  list('segments added', change.segmentsAdded);
  list('segments dropped (their memberships are removed, behind the shrink guard)', change.segmentsDropped);
  list('attributes added', change.attributesAdded);
  list(
    'attributes renamed',
    change.attributesRenamed.map((r) => `${r.from} -> ${r.to}`),
  );
  list('attributes dropped and cleared in Braze', change.attributesRemoved);
  list(
    'attributes dropped and left in Braze (clear them with --remove-unmapped)',
    change.attributesDropped.filter((name) => !change.attributesRemoved.includes(name)),
  );
  if (change.membershipValueChanged) lines.push('membership value changed: every membership is sent again');
  if (change.onLeaveChanged) lines.push('membership onLeave changed: every known non-member gets the new leave value');
  return lines;
}

/**
 * The loaded snapshot in the run's layout: every user in the same slot, memberships and attribute fingerprints moved
 * to their new index (new segments and attributes empty), raw fingerprints kept only while still valid. One pass
 * over the users, once per mapping change.
 */
export function remapSnapshot(previous: Snapshot, plan: MappingChange, extraUsers: number): Snapshot {
  const identityAt = plan.attributeNames.length;
  const next = Snapshot.create({
    segmentCount: plan.segmentIds.length,
    attributeCount: identityAt + (plan.identitySource >= 0 ? IDENTITY_WORDS : 0),
    expectedUsers: previous.size + extraUsers,
  });
  for (let slot = 0; slot < previous.size; slot++) {
    const at = next.insert(previous.keyOf(slot));
    if (at !== slot) throw new Error(`Snapshot remap: user at slot ${slot} landed at ${at} (a repeated key)`);
    plan.segmentSource.forEach((source, segment) => {
      if (source >= 0 && previous.hasSegment(slot, source)) next.setSegment(slot, segment, true);
    });
    plan.attributeSource.forEach((source, attribute) => {
      if (source >= 0) next.setAttribute(slot, attribute, previous.attribute(slot, source));
    });
    if (plan.identitySource >= 0) {
      for (let word = 0; word < IDENTITY_WORDS; word++) {
        next.setAttribute(slot, identityAt + word, previous.attribute(slot, plan.identitySource + word));
      }
    }
    next.setRawFingerprint(slot, plan.rawFingerprintsValid ? previous.rawFingerprint(slot) : NO_RAW_FINGERPRINT);
  }
  return next;
}

/** Forgets every raw fingerprint (the config's attribute list changed: they no longer describe its rows). */
export function clearRawFingerprints(snapshot: Snapshot): void {
  for (let slot = 0; slot < snapshot.size; slot++) snapshot.setRawFingerprint(slot, NO_RAW_FINGERPRINT);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
