import type { ExportConfig } from '../config/exportConfig';
import { identifierFields, type BrazeValue, type MappedRow, type RawRowFacts } from '../mapping/profileMapper';
import { fingerprintValue, NO_VALUE } from './fingerprint';
import { countSegmentMembers, hashKey, NO_RAW_FINGERPRINT, Snapshot } from './snapshot';

/** A Braze attributes object the planner wants sent, with what it carries (for counters and rejection handling). */
export interface PlannedObject {
  object: Record<string, unknown>;
  /** Slot of the user in the run's new snapshot. */
  slot: number;
  /** The segment of the row; -1 for a removal. */
  segment: number;
  attributesChanged: number;
  /** 1 when the object sets the segment's membership attribute. */
  membershipsAdded: number;
  /** The segments whose membership attribute the object removes (removal phase; none for a row). */
  removedSegments: readonly number[];
}

/** What a planned object changes, without the object: what a run keeps of it while Braze answers. */
export type PlannedChange = Omit<PlannedObject, 'object'>;

/** `removedSegments` of every row's object. */
const NO_SEGMENTS: readonly number[] = Object.freeze([]);

export type RowPlan =
  | { kind: 'send'; planned: PlannedObject }
  | { readonly kind: 'unchanged' }
  /** The user was already read in this segment: a repeated CustomerId (projected attributes). */
  | { readonly kind: 'duplicate' };

/**
 * What a mapping change (mappingChange.ts) makes a run send besides the rows' own changes. Dropped segments need
 * nothing here: they are covered segments without rows, so their members leave.
 */
export interface Reconcile {
  /** The membership value changed: every member's membership attribute is sent again. */
  resendMemberships: boolean;
  /** `onLeave` changed: every known user outside a covered segment gets the new leave value for it. */
  resendLeaves: boolean;
  /** Attribute indexes (dropped from the config) whose values are cleared in Braze (`removeUnmapped`). */
  clearedAttributes: readonly number[];
}

export const NO_RECONCILE: Reconcile = Object.freeze({
  resendMemberships: false,
  resendLeaves: false,
  clearedAttributes: Object.freeze([]),
});

/** Room for new users a run's snapshot should have (see `LoadSnapshotOptions.extraUsers`): a sixteenth more. */
export function roomForNewUsers(previousUsers: number): number {
  return Math.ceil(previousUsers / 16);
}

// Shared answers: most rows of a delta are unchanged, and an object per row would only feed the garbage collector.
const UNCHANGED: RowPlan = Object.freeze({ kind: 'unchanged' });
const DUPLICATE: RowPlan = Object.freeze({ kind: 'duplicate' });

/**
 * Computes what Braze must be told, user by user, by comparing the export with the snapshot of what Braze
 * accepted last time (design §5, §7). It builds the next snapshot as it goes, assuming acceptance; a rejection
 * puts the user back to the previous state, so the next run tries again.
 *
 * The planner takes the previous snapshot over and changes it into the next one in place (no copy of millions of
 * users): a known user keeps their slot, new users come after them. What the previous state is still needed for is
 * kept aside: every user's segment words (to find leavers), and the attribute and raw fingerprints of a user whose
 * values change, saved before the first change (to put a rejected user back). On a user's first sight in the run,
 * the memberships of the covered segments are cleared, to be decided by their rows.
 *
 * Segment membership is tracked per segment bit; attributes by 32-bit fingerprints. With `fullResync` every
 * value counts as changed, but leavers are still found from the previous snapshot.
 */
export class DeltaPlanner {
  readonly next: Snapshot;
  /** Users of the previous snapshot: slots below this in `next` hold known users. */
  readonly previousUsers: number;
  /** The previous snapshot's segment words, `segmentWords` per known user. */
  private readonly previousSegments: Uint32Array;
  private readonly segmentWords: number;
  /** Per known user, where `savedValues` holds their previous attribute and raw fingerprints, or -1 (unchanged). */
  private savedAt: Int32Array | null = null;
  /** Attribute fingerprints then raw fingerprint, per saved user. */
  private savedValues = new Uint32Array(0);
  private savedCount = 0;
  /** 1 for each `next` slot whose user this run has met (read, or carried over at the end). Grows with `next`. */
  private seen: Uint8Array;
  private readonly membershipValue: BrazeValue;
  private readonly leaveValue: BrazeValue;
  /** CI customer id key -> the alias key its profile had before a merge. Merges are rare: a Map is fine. */
  private readonly mergedKeys = new Map<string, string>();
  /** Segment indexes this run covers, as an array: iterating a Set allocates an iterator, and this runs per user. */
  private readonly selected: readonly number[];
  /** The selected segments as bits, per word of the segment bitset. */
  private readonly selectedMask: Int32Array;

  constructor(
    private readonly config: ExportConfig,
    private readonly attributeNames: readonly string[],
    /** Braze segment API id per segment index (the snapshot's segment order). */
    private readonly segmentIds: readonly string[],
    /** Segment indexes this run covers; the others are carried over untouched. */
    selectedSegments: ReadonlySet<number>,
    previous: Snapshot | null,
    private readonly fullResync: boolean,
    private readonly reconcile: Reconcile = NO_RECONCILE,
  ) {
    this.next = previous ?? Snapshot.create({ segmentCount: segmentIds.length, attributeCount: attributeNames.length });
    this.previousUsers = this.next.size;
    this.previousSegments = this.next.sections().segments.slice();
    this.segmentWords = Math.ceil(segmentIds.length / 32);
    this.seen = new Uint8Array(Math.max(1024, this.previousUsers));
    this.selected = [...selectedSegments];
    this.selectedMask = new Int32Array(Math.ceil(segmentIds.length / 32));
    for (const segment of this.selected) this.selectedMask[segment >>> 5] |= 1 << (segment & 31);
    this.membershipValue = config.membership.value;
    this.leaveValue = config.membership.onLeave === 'false' ? false : null;
  }

  /** Members per segment in the previous snapshot. */
  previousMemberCounts(): number[] {
    return countSegmentMembers(this.previousSegments, this.segmentIds.length);
  }

  /**
   * Plans a row of segment `segment` from its bytes alone (`ProfileMapper.readRaw`) when that is enough: the user is
   * known and the row's raw fingerprint is the one their attribute fingerprints came from, so no attribute changed.
   * Null when the row must be decoded, mapped and given to `planRow`. What it plans is what `planRow` would.
   */
  planRaw(facts: RawRowFacts, segment: number): RowPlan | null {
    // A first run knows nobody: every row is new and must be decoded.
    if (this.fullResync || this.previousUsers === 0) return null;
    // A key merged into another in this run (`mergedKeys`) is never in `next` itself: it is not found here, and
    // `planRow` resolves it.
    const slot = this.next.findRawKey(facts.keyPrefix, facts.keyHash, facts.bytes, facts.idStart, facts.idEnd);
    if (slot < 0) return null;
    const firstSight = !this.isSeen(slot);
    if (!firstSight && this.next.hasSegment(slot, segment)) return DUPLICATE;
    if (this.next.rawFingerprint(slot) !== facts.fingerprint) return null;
    // Until their first sight, a known user's state in `next` is their previous state (one memory access less).
    const wasMember =
      slot < this.previousUsers && (firstSight ? this.next.hasSegment(slot, segment) : this.wasMember(slot, segment));
    this.see(slot);
    this.next.setSegment(slot, segment, true);
    if (wasMember && !this.reconcile.resendMemberships) return UNCHANGED;
    const object = identifierFields(this.next.keyOf(slot), this.config.updateExistingOnly);
    object[this.segmentIds[segment]] = this.membershipValue;
    return {
      kind: 'send',
      planned: { object, slot, segment, attributesChanged: 0, membershipsAdded: 1, removedSegments: NO_SEGMENTS },
    };
  }

  /**
   * Plans one mapped row of segment `segment`. `rawFingerprint`: the row's (`ProfileMapper.readRaw`), when it was
   * read as bytes; kept with the user so that the next run can plan the same row with `planRaw`.
   */
  planRow(row: MappedRow, segment: number, rawFingerprint = NO_RAW_FINGERPRINT): RowPlan {
    // Merges are rare: skip the map lookup (a string hash per row) while there are none.
    const key = this.mergedKeys.size === 0 ? row.key : (this.mergedKeys.get(row.key) ?? row.key);
    // One hash of the key serves every lookup of it (finding the user; for a merge, whether the key was known).
    const hash = hashKey(key);
    // On first sight the key is the row's own: a merged key is recorded (and seen) at once.
    let slot: number;
    // The key stored at `slot` (decoded text holds no lone surrogate, so it reads back the same as `keyOf(slot)`).
    let slotKey = key;
    if (row.previousCustomerIds.length === 0) {
      // No merge to resolve: one probe of the table finds the user or adds them.
      slot = this.next.insert(key, hash);
    } else {
      slot = this.next.find(key, hash);
      if (slot < 0 || !this.isSeen(slot)) {
        slotKey = this.resolveKey(row, hash);
        slot = this.next.insert(slotKey, slotKey === key ? hash : hashKey(slotKey));
      }
    }
    const firstSight = this.see(slot);
    if (!firstSight && this.next.hasSegment(slot, segment)) return DUPLICATE;

    const previousSlot = slot < this.previousUsers ? slot : -1;
    let object: Record<string, unknown> | null = null;
    let attributesChanged = 0;
    for (let a = 0; a < row.values.length; a++) {
      const value = row.values[a];
      const fingerprint = fingerprintValue(value);
      const current = this.next.attribute(slot, a);
      // A full resync sends every value once, and clears what Braze may hold for values that became empty.
      const forced = firstSight && this.fullResync && (value !== null || current !== NO_VALUE);
      if (fingerprint === current && !forced) continue;
      if (attributesChanged === 0 && previousSlot >= 0) this.saveBeforeChange(slot);
      this.next.setAttribute(slot, a, fingerprint);
      object ??= identifierFields(slotKey, this.config.updateExistingOnly);
      object[this.attributeNames[a]] = value;
      attributesChanged++;
    }
    // The user's attribute fingerprints now hold this row's values: keep the fingerprint of its bytes, or, when they
    // are unknown, the one before only if it still describes the same values.
    const rawFingerprintChanged = rawFingerprint !== this.next.rawFingerprint(slot);
    if ((rawFingerprint !== NO_RAW_FINGERPRINT || attributesChanged > 0) && rawFingerprintChanged) {
      if (attributesChanged === 0 && previousSlot >= 0) this.saveBeforeChange(slot);
      this.next.setRawFingerprint(slot, rawFingerprint);
    }

    this.next.setSegment(slot, segment, true);
    const wasMember =
      previousSlot >= 0 &&
      this.wasMember(previousSlot, segment) &&
      !this.fullResync &&
      !this.reconcile.resendMemberships;
    let membershipsAdded = 0;
    if (!wasMember) {
      object ??= identifierFields(slotKey, this.config.updateExistingOnly);
      object[this.segmentIds[segment]] = this.membershipValue;
      membershipsAdded = 1;
    }
    if (!object) return UNCHANGED;
    return {
      kind: 'send',
      planned: { object, slot, segment, attributesChanged, membershipsAdded, removedSegments: NO_SEGMENTS },
    };
  }

  /**
   * A row of this user in `segment` could not be sent (a value Braze would refuse): nothing is sent, and what
   * Braze has for them stays as it is, their membership included, so that bad data never looks like a leaver.
   * True when the user stays a member.
   */
  keepPrevious(key: string, segment: number): boolean {
    const slot = this.next.insert(this.mergedKeys.get(key) ?? key);
    this.see(slot);
    const member = slot < this.previousUsers && this.wasMember(slot, segment);
    if (member) this.next.setSegment(slot, segment, true);
    return member;
  }

  /**
   * Settles the covered segments' memberships of every user of the previous snapshot, and returns the removals to
   * send. Users absent from this run stay in the snapshot (Braze keeps their attributes and other memberships) and
   * lose the memberships of the covered segments; `held` segments keep their members (`heldMembers`, per segment).
   * From here `next` holds what Braze will once the sends are answered, but for objects it rejects (`reject`):
   * `removals` only reads, so the next snapshot can be written while they are sent. A removal is one object per user,
   * with every covered segment they left; it carries `_update_existing_only`, so it never creates a profile.
   */
  planRemovals(held: ReadonlySet<number>): { heldMembers: number[]; removals: Iterable<PlannedObject> } {
    const heldMembers = new Array<number>(this.segmentIds.length).fill(0);
    const cleared = this.reconcile.clearedAttributes;
    for (let slot = 0; slot < this.previousUsers; slot++) {
      this.see(slot);
      for (let c = 0; c < cleared.length; c++) {
        if (this.next.attribute(slot, cleared[c]) === NO_VALUE) continue;
        this.saveBeforeChange(slot);
        this.next.setAttribute(slot, cleared[c], NO_VALUE);
      }
      if (held.size === 0 || !this.leavesACoveredSegment(slot)) continue;
      for (const segment of this.selected) {
        if (!held.has(segment) || !this.leaves(slot, segment)) continue;
        this.next.setSegment(slot, segment, true);
        heldMembers[segment]++;
      }
    }
    return { heldMembers, removals: this.removalObjects() };
  }

  private *removalObjects(): Generator<PlannedObject> {
    const resendLeaves = this.reconcile.resendLeaves;
    for (let slot = 0; slot < this.previousUsers; slot++) {
      const clearedHere = this.reconcile.clearedAttributes.length === 0 ? 0 : this.clearedAttributesOf(slot);
      if (!resendLeaves && clearedHere === 0 && !this.leavesACoveredSegment(slot)) continue;
      const object = identifierFields(this.next.keyOf(slot), true);
      const removedSegments: number[] = [];
      for (const segment of this.selected) {
        if (this.next.hasSegment(slot, segment) || !(resendLeaves || this.wasMember(slot, segment))) continue;
        object[this.segmentIds[segment]] = this.leaveValue;
        removedSegments.push(segment);
      }
      if (clearedHere > 0) {
        for (const attribute of this.reconcile.clearedAttributes) {
          if (this.previousAttribute(slot, attribute) !== NO_VALUE) object[this.attributeNames[attribute]] = null;
        }
      }
      if (removedSegments.length === 0 && clearedHere === 0) continue;
      yield { object, slot, segment: -1, attributesChanged: clearedHere, membershipsAdded: 0, removedSegments };
    }
  }

  private leaves(slot: number, segment: number): boolean {
    return this.wasMember(slot, segment) && !this.next.hasSegment(slot, segment);
  }

  /** How many of the attributes this run clears the user had a value for (read only: see `planRemovals`). */
  private clearedAttributesOf(slot: number): number {
    let count = 0;
    for (const attribute of this.reconcile.clearedAttributes) {
      if (this.previousAttribute(slot, attribute) !== NO_VALUE) count++;
    }
    return count;
  }

  /** A known user's attribute fingerprint before this run changed it. */
  private previousAttribute(slot: number, attribute: number): number {
    const at = this.savedAt?.[slot] ?? -1;
    return at < 0 ? this.next.attribute(slot, attribute) : this.savedValues[at + attribute];
  }

  /**
   * Known users whose state in `next` may differ from the previous snapshot's (memberships, attribute or raw
   * fingerprints), ascending: with the users this run added, what an incremental save of `next` writes.
   */
  changedSlots(): Uint32Array {
    const words = this.segmentWords;
    const segments = this.next.sections().segments;
    const changed: number[] = [];
    for (let slot = 0; slot < this.previousUsers; slot++) {
      let differs = (this.savedAt?.[slot] ?? -1) >= 0;
      for (let word = slot * words; !differs && word < (slot + 1) * words; word++) {
        differs = segments[word] !== this.previousSegments[word];
      }
      if (differs) changed.push(slot);
    }
    return Uint32Array.from(changed);
  }

  /** Braze rejected an object: the user goes back to what Braze had, so the next run sends it again. */
  reject(planned: PlannedChange): void {
    if (planned.segment === -1) {
      for (const segment of planned.removedSegments) this.next.setSegment(planned.slot, segment, true);
      for (const attribute of this.reconcile.clearedAttributes) {
        this.next.setAttribute(planned.slot, attribute, this.previousAttribute(planned.slot, attribute));
      }
      return;
    }
    const slot = planned.slot;
    if (slot < this.previousUsers) {
      for (let s = 0; s < this.segmentIds.length; s++) this.next.setSegment(slot, s, this.wasMember(slot, s));
      const at = this.savedAt?.[slot] ?? -1;
      if (at < 0) return;
      const count = this.attributeNames.length;
      for (let a = 0; a < count; a++) this.next.setAttribute(slot, a, this.savedValues[at + a]);
      this.next.setRawFingerprint(slot, this.savedValues[at + count]);
    } else {
      for (let s = 0; s < this.segmentIds.length; s++) this.next.setSegment(planned.slot, s, false);
      for (let a = 0; a < this.attributeNames.length; a++) this.next.setAttribute(planned.slot, a, NO_VALUE);
      this.next.setRawFingerprint(planned.slot, NO_RAW_FINGERPRINT);
    }
  }

  /** A merged alias-identified profile keeps its Braze alias (PreviousCustomerId), instead of creating a new one. */
  private resolveKey(row: MappedRow, hash: number): string {
    if (row.previousCustomerIds.length === 0 || this.isPreviousUser(this.next.find(row.key, hash))) return row.key;
    for (const id of row.previousCustomerIds) {
      const previousKey = `a:${id}`;
      const previousSlot = this.next.find(previousKey);
      if (this.isPreviousUser(previousSlot) && !this.isSeen(previousSlot)) {
        this.mergedKeys.set(row.key, previousKey);
        return previousKey;
      }
    }
    return row.key;
  }

  /** A word-wise look (most users leave nothing) at whether the user was in a covered segment they are not in now. */
  private leavesACoveredSegment(slot: number): boolean {
    for (let word = 0; word < this.selectedMask.length; word++) {
      const left = this.previousSegments[slot * this.segmentWords + word] & ~this.next.segmentWord(slot, word);
      if ((left & this.selectedMask[word]) !== 0) return true;
    }
    return false;
  }

  private wasMember(slot: number, segment: number): boolean {
    return (this.previousSegments[slot * this.segmentWords + (segment >>> 5)] & (1 << (segment & 31))) !== 0;
  }

  /** A slot of the previous snapshot (users this run added come after them). */
  private isPreviousUser(slot: number): boolean {
    return slot >= 0 && slot < this.previousUsers;
  }

  /** Keeps a known user's attribute and raw fingerprints before this run first changes them (see `reject`). */
  private saveBeforeChange(slot: number): void {
    if (!this.savedAt) this.savedAt = new Int32Array(this.previousUsers).fill(-1);
    if (this.savedAt[slot] >= 0) return;
    const count = this.attributeNames.length;
    const at = this.savedCount * (count + 1);
    if (at + count + 1 > this.savedValues.length) {
      const grown = new Uint32Array(Math.max(1024, this.savedValues.length * 2, at + count + 1));
      grown.set(this.savedValues);
      this.savedValues = grown;
    }
    for (let a = 0; a < count; a++) this.savedValues[at + a] = this.next.attribute(slot, a);
    this.savedValues[at + count] = this.next.rawFingerprint(slot);
    this.savedAt[slot] = at;
    this.savedCount++;
  }

  private isSeen(slot: number): boolean {
    return slot < this.seen.length && this.seen[slot] === 1;
  }

  /**
   * Marks the user met in this run; true on first sight. A known user then loses the memberships of the covered
   * segments, which this run decides anew (a new user has none).
   */
  private see(slot: number): boolean {
    if (slot >= this.seen.length) {
      const grown = new Uint8Array(Math.max(slot + 1, this.seen.length * 2));
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[slot] === 1) return false;
    this.seen[slot] = 1;
    if (slot < this.previousUsers) {
      for (let s = 0; s < this.selected.length; s++) this.next.setSegment(slot, this.selected[s], false);
    }
    return true;
  }
}
