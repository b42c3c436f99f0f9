import type { ExportConfig } from '../config/exportConfig';
import { identifierFields, type BrazeValue, type MappedRow, type RawRowFacts } from '../mapping/profileMapper';
import { CustomerIndex, customerHighOf, customerLowOf } from './customerIndex';
import { fingerprintValue, NO_VALUE } from './fingerprint';
import {
  IDENTITY_WORDS,
  NO_RECONCILE,
  type IdentityChange,
  type PlannedChange,
  type PlannedObject,
  type PlannedRow,
  type Reconcile,
  type RowPlan,
} from './plannedChange';
import { countSegmentMembers, hashKey, NO_RAW_FINGERPRINT, Snapshot } from './snapshot';

// What the planner plans is described in plannedChange.ts; importers of diff.ts find it here too.
export * from './plannedChange';

/** `removedSegments` of every row's object. */
const NO_SEGMENTS: readonly number[] = Object.freeze([]);

// Shared answers: most rows of a delta are unchanged, and an object per row would only feed the garbage collector.
const UNCHANGED: PlannedRow = Object.freeze({ kind: 'unchanged' });
const DUPLICATE: PlannedRow = Object.freeze({ kind: 'duplicate' });
const DEFERRED: RowPlan = Object.freeze({ kind: 'deferred' });
const NO_SLOT = -1;

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
  /** Where the identity words (`IDENTITY_WORDS`) sit among a user's attribute fingerprints. */
  private readonly customerAt: number;
  /** Finds the person whose key changed, by CustomerId. */
  private readonly customers: CustomerIndex;
  /** Slots folded into another profile in this run (merged, identified into an existing one): no removal, no row. */
  private readonly folded = new Set<number>();
  /** The previous segment words of folded slots, to put them back when Braze refuses the change. */
  private readonly foldedWords = new Map<number, Uint32Array>();
  /** Rows are read: deferred rows are planned now, and a previous CustomerId seen by then is in the export. */
  private readingDone = false;
  /** The loaded snapshot had no identity words: this run decodes every row once to learn them. */
  private readonly learningIdentities: boolean;
  private identityChanges = 0;
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
    const attributeCount = attributeNames.length + IDENTITY_WORDS;
    this.next = previous ?? Snapshot.create({ segmentCount: segmentIds.length, attributeCount });
    // A snapshot of an earlier version: its users' CustomerIds are learnt from their rows in this run.
    this.learningIdentities = this.next.attributeCount === attributeNames.length;
    if (this.learningIdentities) this.next.widenAttributes(IDENTITY_WORDS);
    this.customerAt = attributeNames.length;
    this.customers = new CustomerIndex(this.next, this.customerAt, this.folded);
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
  planRaw(facts: RawRowFacts, segment: number): PlannedRow | null {
    // A first run knows nobody: every row is new and must be decoded. So is every row of a run that learns CustomerIds.
    if (this.fullResync || this.previousUsers === 0 || this.learningIdentities) return null;
    // A folded profile's raw fingerprint is cleared: its key finds it, its rows are decoded and resolved by `planRow`.
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
    const hash = hashKey(row.key);
    const customerLow = row.customerId === undefined ? 0 : customerLowOf(row.customerId);
    const customerHigh = row.customerId === undefined ? 0 : customerHighOf(row.customerId);
    let slot: number;
    let identity: IdentityChange[] | undefined;
    if (this.previousUsers === 0 && row.previousCustomerIds.length === 0) {
      // Nobody's identity to remember yet: one probe of the table finds the user or adds them.
      slot = this.next.insert(row.key, hash);
    } else {
      const located = this.locate(row, hash, customerLow, customerHigh);
      if (located === null) return DEFERRED;
      slot = located.slot;
      identity = located.identity;
    }
    // The key the person is addressed by: their row's, or the one they keep (sticky identity; see `locate`).
    const slotKey = this.next.keyOf(slot);
    const firstSight = this.see(slot);
    if (!firstSight && this.next.hasSegment(slot, segment)) return DUPLICATE;

    const previousSlot = slot < this.previousUsers ? slot : -1;
    let object: Record<string, unknown> | null = null;
    let attributesChanged = 0;
    for (let a = 0; a < row.values.length; a++) {
      // An email Braze would refuse is not sent: what Braze has stays (and so does its fingerprint).
      if (a === 0 && row.emailProblem !== undefined) continue;
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
    if (
      customerLow !== this.next.attribute(slot, this.customerAt) ||
      customerHigh !== this.next.attribute(slot, this.customerAt + 1)
    ) {
      if (attributesChanged === 0 && previousSlot >= 0) this.saveBeforeChange(slot);
      this.customers.setCustomer(slot, customerLow, customerHigh);
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
    if (identity) {
      // The identity change goes first; an object names the person the way Braze will know them afterwards.
      object ??= identifierFields(slotKey, this.config.updateExistingOnly);
      return {
        kind: 'send',
        planned: { object, slot, segment, attributesChanged, membershipsAdded, removedSegments: NO_SEGMENTS, identity },
      };
    }
    if (!object) return UNCHANGED;
    return {
      kind: 'send',
      planned: { object, slot, segment, attributesChanged, membershipsAdded, removedSegments: NO_SEGMENTS },
    };
  }

  /** Every row was read: the deferred rows (CI merges and splits) can be planned now, with `planDeferred`. */
  finishReading(): void {
    this.readingDone = true;
  }

  /** Plans a row `planRow` deferred, once `finishReading` was called. */
  planDeferred(row: MappedRow, segment: number): PlannedRow {
    if (!this.readingDone) throw new Error('planDeferred before finishReading');
    return this.planRow(row, segment) as PlannedRow;
  }

  /** True when the next snapshot cannot be saved as a patch of the loaded one (keys changed, or its layout). */
  get needsWholeSave(): boolean {
    return this.learningIdentities || this.next.rekeyedBelow(this.previousUsers);
  }

  /** Identity changes planned so far. */
  get identityChangesPlanned(): number {
    return this.identityChanges;
  }

  /**
   * Finds the slot of the person of a row, and the identity changes Braze needs first (design: identity lifecycle):
   * - key known and theirs (or nobody's yet): that slot;
   * - the person (by CustomerId, or a previous CustomerId of a CI merge not in the export) had another key: with an
   *   external id now, `identify` (from an email or alias) or `rename` (from another external id) when the new key is
   *   nobody's, or `merge` into the profile the new key names; without one, the known profile keeps being addressed
   *   (sticky: a removal under one key and a set under another would land on the same Braze profile);
   * - CI merges fold the other previous profiles into the person's; a split (the previous id is still in the export)
   *   is a new person.
   * Null: decide after reading (`DEFERRED`).
   */
  private locate(
    row: MappedRow,
    hash: number,
    customerLow: number,
    customerHigh: number,
  ): { slot: number; identity?: IdentityChange[] } | null {
    const keySlot = this.next.find(row.key, hash);
    const usable = keySlot >= 0 && !this.folded.has(keySlot);
    const hasCustomer = customerLow !== 0 || customerHigh !== 0;
    if (
      usable &&
      (!hasCustomer || this.customers.customerIs(keySlot, customerLow, customerHigh)) &&
      row.previousCustomerIds.length === 0
    ) {
      return { slot: keySlot };
    }
    let known = hasCustomer ? this.customers.findCustomer(customerLow, customerHigh) : NO_SLOT;
    if (known === keySlot && usable) known = NO_SLOT;
    const folds: number[] = [];
    if (known < 0 && row.previousCustomerIds.length > 0) {
      for (const id of row.previousCustomerIds) {
        const previous = this.customers.previousProfile(id);
        if (previous < 0 || previous === keySlot || this.folded.has(previous)) continue;
        // Seen in this run: the id is still in the export (a split), or its profile was already taken over.
        if (this.isSeen(previous)) continue;
        if (!this.readingDone) return null;
        if (known < 0 && !usable) known = previous;
        else folds.push(previous);
      }
    }
    const identity: IdentityChange[] = [];
    let slot: number;
    if (known < 0) {
      slot = usable ? keySlot : this.next.insert(row.key, hash);
      if (!usable && keySlot >= 0) this.unfold(keySlot);
    } else {
      slot = this.takeOver(known, row.key, hash, keySlot, identity);
    }
    for (const from of folds) this.fold(from, slot, identity);
    return identity.length > 0 ? { slot, identity } : { slot };
  }

  /**
   * The person's profile is `known` (under another key); their row's key is `key`, held by `keySlot` or nobody (-1).
   * Returns the slot that stands for them from now on, adding the identity changes that get Braze there.
   */
  private takeOver(known: number, key: string, hash: number, keySlot: number, identity: IdentityChange[]): number {
    const knownKey = this.next.keyOf(known);
    // No external id now: keep addressing the profile they have (an email change of an email-only profile cannot be
    // followed, since the email is its identifier: that makes a new profile).
    if (key[0] !== 'e') return knownKey[0] === 'm' && key[0] === 'm' ? this.next.insert(key, hash) : known;
    const kind = knownKey[0] === 'e' ? 'rename' : 'identify';
    // The new key's profile was folded into another one in this run: keep addressing the known profile.
    if (keySlot >= 0 && this.folded.has(keySlot)) return known;
    if (keySlot >= 0) {
      // The new key is someone's profile already: the known one is merged into it (identify merges too).
      this.fold(known, keySlot, identity, kind === 'identify' ? 'identify' : 'merge');
      return keySlot;
    }
    this.next.rekey(known, key, hash);
    this.identityChanges++;
    identity.push({ kind, from: knownKey, to: key, slot: known, foldedSlot: NO_SLOT });
    return known;
  }

  /**
   * Folds the profile of `from` into `into`'s (a Braze merge): `from` leaves the snapshot's people (no removal, no
   * values), and what it was a member of becomes `into`'s to settle, since Braze copies it over.
   */
  private fold(from: number, into: number, identity: IdentityChange[], kind: 'merge' | 'identify' = 'merge'): void {
    this.see(from);
    if (from < this.previousUsers) {
      const words = this.previousSegments.slice(from * this.segmentWords, (from + 1) * this.segmentWords);
      this.foldedWords.set(from, words);
      this.saveBeforeChange(from);
      if (into < this.previousUsers) {
        for (let word = 0; word < words.length; word++)
          this.previousSegments[into * this.segmentWords + word] |= words[word];
      }
      this.previousSegments.fill(0, from * this.segmentWords, (from + 1) * this.segmentWords);
    }
    for (let s = 0; s < this.segmentIds.length; s++) this.next.setSegment(from, s, false);
    for (let a = 0; a < this.next.attributeCount; a++) this.next.setAttribute(from, a, NO_VALUE);
    this.next.setRawFingerprint(from, NO_RAW_FINGERPRINT);
    this.folded.add(from);
    this.identityChanges++;
    identity.push({ kind, from: this.next.keyOf(from), to: this.next.keyOf(into), slot: into, foldedSlot: from });
  }

  /** A folded slot whose key comes back (another person now): it is theirs, from an empty state. */
  private unfold(slot: number): void {
    this.folded.delete(slot);
  }

  /** Braze refused an identity change: the people involved go back to what they were. */
  rejectIdentity(change: IdentityChange): void {
    if (change.foldedSlot >= 0) {
      const from = change.foldedSlot;
      this.folded.delete(from);
      const words = this.foldedWords.get(from);
      if (words) this.previousSegments.set(words, from * this.segmentWords);
      this.reject({ slot: from, segment: -1, attributesChanged: 0, membershipsAdded: 0, removedSegments: NO_SEGMENTS });
    } else if (this.next.keyOf(change.slot) === change.to) {
      this.next.rekey(change.slot, change.from);
    }
  }

  /**
   * A row of this user in `segment` could not be sent (a value Braze would refuse): nothing is sent, and what
   * Braze has for them stays as it is, their membership included, so that bad data never looks like a leaver.
   * True when the user stays a member.
   */
  keepPrevious(key: string, segment: number): boolean {
    const slot = this.next.find(key);
    if (slot < 0) return false;
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
      const count = this.next.attributeCount;
      for (let a = 0; a < count; a++) this.next.setAttribute(slot, a, this.savedValues[at + a]);
      this.next.setRawFingerprint(slot, this.savedValues[at + count]);
    } else {
      for (let s = 0; s < this.segmentIds.length; s++) this.next.setSegment(planned.slot, s, false);
      for (let a = 0; a < this.next.attributeCount; a++) this.next.setAttribute(planned.slot, a, NO_VALUE);
      this.next.setRawFingerprint(planned.slot, NO_RAW_FINGERPRINT);
    }
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

  /** Keeps a known user's attribute and raw fingerprints before this run first changes them (see `reject`). */
  private saveBeforeChange(slot: number): void {
    if (!this.savedAt) this.savedAt = new Int32Array(this.previousUsers).fill(-1);
    if (this.savedAt[slot] >= 0) return;
    const count = this.next.attributeCount;
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
