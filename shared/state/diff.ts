import type { ExportConfig } from '../config/exportConfig';
import { identifierFields, type BrazeValue, type MappedRow } from '../mapping/profileMapper';
import { fingerprintValue, NO_VALUE } from './fingerprint';
import { hashKey, Snapshot } from './snapshot';

/** A Braze attributes object the planner wants sent, with what it carries (for counters and rejection handling). */
export interface PlannedObject {
  object: Record<string, unknown>;
  /** Slot of the user in the run's new snapshot. */
  slot: number;
  /** The segment of the row, or whose membership the object removes. */
  segment: number;
  attributesChanged: number;
  /** 1 when the object sets the segment's membership attribute. */
  membershipsAdded: number;
  /** 1 when the object removes the segment's membership attribute (removal phase). */
  membershipsRemoved: number;
}

export type RowPlan =
  | { kind: 'send'; planned: PlannedObject }
  | { readonly kind: 'unchanged' }
  /** The user was already read in this segment: a repeated CustomerId (projected attributes). */
  | { readonly kind: 'duplicate' };

// Shared answers: most rows of a delta are unchanged, and an object per row would only feed the garbage collector.
const UNCHANGED: RowPlan = Object.freeze({ kind: 'unchanged' });
const DUPLICATE: RowPlan = Object.freeze({ kind: 'duplicate' });

/**
 * Computes what Braze must be told, user by user, by comparing the export with the snapshot of what Braze
 * accepted last time (design §5, §7). It builds the next snapshot as it goes, assuming acceptance; a rejection
 * puts the user back to the previous state, so the next run tries again.
 *
 * Segment membership is tracked per segment bit; attributes by 32-bit fingerprints. With `fullResync` every
 * value counts as changed, but leavers are still found from the previous snapshot.
 */
export class DeltaPlanner {
  readonly next: Snapshot;
  private readonly previous: Snapshot;
  /** Slot in `previous` of each `next` slot, -1 when new. Grows with `next`. */
  private previousSlotOf: Int32Array;
  /** Slot in `next` of each `previous` slot, -1 while unseen in this run. */
  private readonly nextSlotOf: Int32Array;
  private readonly membershipValue: BrazeValue;
  private readonly leaveValue: BrazeValue;
  /** CI customer id key -> the alias key its profile had before a merge. Merges are rare: a Map is fine. */
  private readonly mergedKeys = new Map<string, string>();
  /** Segment indexes this run covers, as an array: iterating a Set allocates an iterator, and this runs per user. */
  private readonly selected: readonly number[];

  constructor(
    private readonly config: ExportConfig,
    private readonly attributeNames: readonly string[],
    /** Braze segment API id per segment index (the snapshot's segment order). */
    private readonly segmentIds: readonly string[],
    /** Segment indexes this run covers; the others are carried over untouched. */
    selectedSegments: ReadonlySet<number>,
    previous: Snapshot | null,
    private readonly fullResync: boolean,
  ) {
    this.previous =
      previous ?? Snapshot.create({ segmentCount: segmentIds.length, attributeCount: attributeNames.length });
    this.next = Snapshot.create({
      segmentCount: segmentIds.length,
      attributeCount: attributeNames.length,
      expectedUsers: this.previous.size,
    });
    this.previousSlotOf = new Int32Array(Math.max(1024, this.previous.size));
    this.nextSlotOf = new Int32Array(this.previous.size).fill(-1);
    this.selected = [...selectedSegments];
    this.membershipValue = config.membership.value;
    this.leaveValue = config.membership.onLeave === 'false' ? false : null;
  }

  get previousSnapshot(): Snapshot {
    return this.previous;
  }

  /** Plans one mapped row of segment `segment`. */
  planRow(row: MappedRow, segment: number): RowPlan {
    // Merges are rare: skip the map lookup (a string hash per row) while there are none.
    const key = this.mergedKeys.size === 0 ? row.key : (this.mergedKeys.get(row.key) ?? row.key);
    // One hash of the key serves every lookup of it (in this run's snapshot and in the previous one).
    const hash = hashKey(key);
    // On first sight the key is the row's own: a merged key is in `next` from the moment it is recorded.
    let slot: number;
    let firstSight: boolean;
    if (row.previousCustomerIds.length === 0) {
      // No merge to resolve: one probe of the table finds the user or adds them.
      const users = this.next.size;
      slot = this.next.insert(key, hash);
      firstSight = this.next.size > users;
      if (firstSight) this.admitted(slot, key, hash);
    } else {
      slot = this.next.find(key, hash);
      firstSight = slot < 0;
      if (firstSight) {
        const resolved = this.resolveKey(row, hash);
        slot = this.admit(resolved, resolved === key ? hash : hashKey(resolved));
      }
    }
    if (!firstSight && this.next.hasSegment(slot, segment)) return DUPLICATE;

    const previousSlot = this.previousSlotOf[slot];
    let object: Record<string, unknown> | null = null;
    let attributesChanged = 0;
    for (let a = 0; a < row.values.length; a++) {
      const value = row.values[a];
      const fingerprint = fingerprintValue(value);
      const current = this.next.attribute(slot, a);
      // A full resync sends every value once, and clears what Braze may hold for values that became empty.
      const forced = firstSight && this.fullResync && (value !== null || current !== NO_VALUE);
      if (fingerprint === current && !forced) continue;
      this.next.setAttribute(slot, a, fingerprint);
      object ??= identifierFields(this.next.keyOf(slot), this.config.updateExistingOnly);
      object[this.attributeNames[a]] = value;
      attributesChanged++;
    }

    this.next.setSegment(slot, segment, true);
    const wasMember = previousSlot >= 0 && this.previous.hasSegment(previousSlot, segment) && !this.fullResync;
    let membershipsAdded = 0;
    if (!wasMember) {
      object ??= identifierFields(this.next.keyOf(slot), this.config.updateExistingOnly);
      object[this.segmentIds[segment]] = this.membershipValue;
      membershipsAdded = 1;
    }
    if (!object) return UNCHANGED;
    return {
      kind: 'send',
      planned: { object, slot, segment, attributesChanged, membershipsAdded, membershipsRemoved: 0 },
    };
  }

  /**
   * A row of this user in `segment` could not be sent (a value Braze would refuse): nothing is sent, and what
   * Braze has for them stays as it is, their membership included, so that bad data never looks like a leaver.
   * True when the user stays a member.
   */
  keepPrevious(key: string, segment: number): boolean {
    let slot = this.next.find(this.mergedKeys.get(key) ?? key);
    if (slot < 0) slot = this.admit(key, hashKey(key));
    const previousSlot = this.previousSlotOf[slot];
    const member = previousSlot >= 0 && this.previous.hasSegment(previousSlot, segment);
    if (member) this.next.setSegment(slot, segment, true);
    return member;
  }

  /**
   * Members of the previous snapshot who are no longer in a covered segment, segment by segment. Removals are
   * sent with `_update_existing_only` so a removal never creates a profile. `held` segments keep their members.
   */
  *planRemovals(held: ReadonlySet<number>): Generator<PlannedObject | { heldSegment: number }> {
    for (let previousSlot = 0; previousSlot < this.previous.size; previousSlot++) {
      // Users absent from this run stay in the snapshot: Braze keeps their attributes and other memberships.
      const slot = this.nextSlotOf[previousSlot] >= 0 ? this.nextSlotOf[previousSlot] : this.carryOver(previousSlot);
      if (this.previous.hasNoSegments(previousSlot)) continue;
      for (const segment of this.selected) {
        if (!this.previous.hasSegment(previousSlot, segment) || this.next.hasSegment(slot, segment)) continue;
        if (held.has(segment)) {
          this.next.setSegment(slot, segment, true);
          yield { heldSegment: segment };
          continue;
        }
        const key = this.next.keyOf(slot);
        const object = { ...identifierFields(key, true), [this.segmentIds[segment]]: this.leaveValue };
        yield { object, slot, segment, attributesChanged: 0, membershipsAdded: 0, membershipsRemoved: 1 };
      }
    }
  }

  /** Braze rejected an object: the user goes back to what Braze had, so the next run sends it again. */
  reject(planned: PlannedObject): void {
    if (planned.membershipsRemoved) {
      this.next.setSegment(planned.slot, planned.segment, true);
      return;
    }
    const previousSlot = this.previousSlotOf[planned.slot];
    if (previousSlot >= 0) {
      this.next.copyUser(planned.slot, this.previous, previousSlot);
    } else {
      for (let s = 0; s < this.segmentIds.length; s++) this.next.setSegment(planned.slot, s, false);
      for (let a = 0; a < this.attributeNames.length; a++) this.next.setAttribute(planned.slot, a, NO_VALUE);
    }
  }

  /** A merged alias-identified profile keeps its Braze alias (PreviousCustomerId), instead of creating a new one. */
  private resolveKey(row: MappedRow, hash: number): string {
    if (row.previousCustomerIds.length === 0 || this.previous.find(row.key, hash) >= 0) return row.key;
    for (const id of row.previousCustomerIds) {
      const previousKey = `a:${id}`;
      if (this.previous.find(previousKey) >= 0 && this.next.find(previousKey) < 0) {
        this.mergedKeys.set(row.key, previousKey);
        return previousKey;
      }
    }
    return row.key;
  }

  /** First sight of a user in this run: start from what Braze has, minus the memberships this run decides anew. */
  private admit(key: string, hash: number): number {
    const slot = this.next.insert(key, hash);
    this.admitted(slot, key, hash);
    return slot;
  }

  /** Links a user just added to `next` with their previous state. */
  private admitted(slot: number, key: string, hash: number): void {
    this.growIndex(slot);
    const previousSlot = this.previous.find(key, hash);
    this.previousSlotOf[slot] = previousSlot;
    if (previousSlot >= 0) {
      this.nextSlotOf[previousSlot] = slot;
      this.next.copyUser(slot, this.previous, previousSlot);
      for (let s = 0; s < this.selected.length; s++) this.next.setSegment(slot, this.selected[s], false);
    }
  }

  /** A previous member no longer in the export: kept in the snapshot (Braze keeps its attributes). */
  private carryOver(previousSlot: number): number {
    const slot = this.next.insert(this.previous.keyOf(previousSlot));
    this.growIndex(slot);
    this.previousSlotOf[slot] = previousSlot;
    this.nextSlotOf[previousSlot] = slot;
    this.next.copyUser(slot, this.previous, previousSlot);
    for (let s = 0; s < this.selected.length; s++) this.next.setSegment(slot, this.selected[s], false);
    return slot;
  }

  private growIndex(slot: number): void {
    if (slot < this.previousSlotOf.length) return;
    const grown = new Int32Array(this.previousSlotOf.length * 2);
    grown.set(this.previousSlotOf);
    this.previousSlotOf = grown;
  }
}
