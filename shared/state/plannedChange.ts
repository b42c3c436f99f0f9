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
  /** Braze identity calls to make, and have answered, before the object is sent (rare; see `IdentityChange`). */
  identity?: IdentityChange[];
}

/**
 * A change of the Braze identity of one person, which `/users/track` cannot make (spec §3.2, §7): `identify` an
 * email-only or alias-only profile with an external id, `rename` an external id, or `merge` one profile into another.
 * `from` and `to` are identity keys (`e:`, `m:`, `a:`).
 */
export interface IdentityChange {
  kind: 'identify' | 'rename' | 'merge';
  from: string;
  to: string;
  /** The person's slot in `next`: addressed by `to` once the change is made. */
  slot: number;
  /** For a merge (and an identify into an existing profile): the slot of the profile folded away, else -1. */
  foldedSlot: number;
}

/** Attribute words the snapshot keeps per user after the mapped attributes: the CI CustomerId's 64-bit hash. */
export const IDENTITY_WORDS = 2;
/** Their names in the snapshot's meta: not Braze attributes, never part of a mapping change. */
export const IDENTITY_ATTRIBUTE_NAMES: readonly string[] = ['$ci_customer_id_hash_low', '$ci_customer_id_hash_high'];

/** The snapshot's attribute names: the mapped ones, then the identity words (stored in the snapshot's meta). */
export function snapshotAttributeNames(attributeNames: readonly string[]): string[] {
  return [...attributeNames, ...IDENTITY_ATTRIBUTE_NAMES];
}

/** What a planned object changes, without the object: what a run keeps of it while Braze answers. */
export type PlannedChange = Omit<PlannedObject, 'object'>;

export type RowPlan =
  | { kind: 'send'; planned: PlannedObject }
  | { readonly kind: 'unchanged' }
  /** The user was already read in this segment: a repeated CustomerId (projected attributes). */
  | { readonly kind: 'duplicate' }
  /**
   * A CI merge or split to decide once every row was read (`finishReading`): the row names a previous CustomerId
   * that has not been read yet, and whether that id is still in the export tells a split from a merge.
   */
  | { readonly kind: 'deferred' };

/** A row's plan once its identity is settled (every plan but `deferred`). */
export type PlannedRow = Exclude<RowPlan, { kind: 'deferred' }>;

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
