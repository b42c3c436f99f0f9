import type { PlannedObject } from '../state/diff';

/** A row's object, or several rows' objects of one user merged: `addedSegments` are the memberships it sets. */
export interface MergedObject extends PlannedObject {
  addedSegments: readonly number[];
  /** The rows whose objects it merges. */
  rows: number;
}

const NO_SEGMENTS: readonly number[] = Object.freeze([]);

/**
 * One attributes object per user in a full sync (issue 19). A row's object is held while its user has a row in a later
 * table (`lastTableOf`, from the pre-pass), merged with the user's later rows' objects, and given back at the row in
 * their last table, which sends it with that row's sequence number. What decides holding is the export alone, so a
 * resumed step that replays the rows holds and emits the same objects with the same sequence numbers: a checkpoint
 * watermark W still means "every object emitted below W settled" (a row below W still held was not sent; its object
 * goes with a later row). `drain` gives back what is still held once every row was read (a user whose last row mapped
 * to nothing, or shares a key hash with a later user), in the order it was first held.
 */
export class UserMerge {
  /** Held users: slot -> where their held object's text is in `texts`. */
  private readonly held = new Map<number, number>();
  private readonly texts = new TextArena();

  constructor(private readonly lastTableOf: (slot: number) => number) {}

  /** The most users held at once: what the merge cost in memory. */
  peakHeldUsers = 0;

  get heldUsers(): number {
    return this.held.size;
  }

  /** Bytes of held text written so far (the arena is freed with the merge). */
  get heldBytes(): number {
    return this.texts.byteLength;
  }

  /** The object to send now for a row of `table`, or null when it is held for the user's later rows. */
  take(planned: PlannedObject, table: number): PlannedObject | MergedObject | null {
    const at = this.held.get(planned.slot);
    const holding = this.lastTableOf(planned.slot) > table;
    // Most rows are a user's only or last one with nothing held: sent as planned, not copied.
    if (at === undefined && !holding) return planned;
    const merged = at === undefined ? asMerged(planned) : merge(this.texts.read(at), planned);
    if (holding) {
      // A key already held keeps its place in the Map: `drain` follows the order users were first held.
      this.held.set(planned.slot, this.texts.write(merged));
      if (this.held.size > this.peakHeldUsers) this.peakHeldUsers = this.held.size;
      return null;
    }
    this.held.delete(planned.slot);
    return merged;
  }

  /** Every object still held, in the order first held; the merge is empty after. */
  *drain(): Iterable<MergedObject> {
    for (const [slot, at] of this.held) {
      this.held.delete(slot);
      yield this.texts.read(at);
    }
  }
}

const ARENA_CHUNK_BYTES = 16 * 2 ** 20;
const LENGTH_BYTES = 4;

/**
 * Held objects as JSON in append-only buffers, off the JavaScript heap. As objects, the 200,000 users a 1M full sync
 * holds at its peak took its peak RSS from about 320 MB to 1,010 MB (their values are slices of the reader's chunks,
 * each keeping its chunk alive, and a heap of long-lived objects makes the collector let garbage grow); as JSON
 * strings to 741 MB. Here about 450 bytes each. Values are strings, numbers, booleans and null, which JSON keeps.
 */
class TextArena {
  private readonly chunks: Buffer[] = [];
  private used = ARENA_CHUNK_BYTES;
  byteLength = 0;

  /** Appends the object's JSON; returns where it is. */
  write(object: MergedObject): number {
    const text = JSON.stringify(object);
    const length = Buffer.byteLength(text);
    if (this.used + LENGTH_BYTES + length > ARENA_CHUNK_BYTES) {
      this.chunks.push(Buffer.allocUnsafe(Math.max(ARENA_CHUNK_BYTES, LENGTH_BYTES + length)));
      this.used = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1];
    const at = (this.chunks.length - 1) * ARENA_CHUNK_BYTES + this.used;
    chunk.writeUInt32LE(length, this.used);
    chunk.write(text, this.used + LENGTH_BYTES);
    this.used += LENGTH_BYTES + length;
    this.byteLength += LENGTH_BYTES + length;
    return at;
  }

  read(at: number): MergedObject {
    const chunk = this.chunks[Math.floor(at / ARENA_CHUNK_BYTES)];
    const offset = at % ARENA_CHUNK_BYTES;
    const length = chunk.readUInt32LE(offset);
    return JSON.parse(chunk.toString('utf8', offset + LENGTH_BYTES, offset + LENGTH_BYTES + length)) as MergedObject;
  }
}

function asMerged(planned: PlannedObject): MergedObject {
  return {
    ...planned,
    addedSegments: planned.membershipsAdded > 0 ? [planned.segment] : NO_SEGMENTS,
    rows: 1,
  };
}

/**
 * `later` applied over `earlier`, as Braze would apply the two objects in that order. A value both set goes once, so
 * it is counted once (the data points Braze charges).
 */
function merge(earlier: MergedObject, later: PlannedObject): MergedObject {
  // Membership attributes never repeat (a user's second row in one table is a duplicate, not sent).
  const identifier = identifierOf(later.object);
  let attributesSetTwice = 0;
  for (const name of Object.keys(later.object)) {
    if (name === identifier || name === '_update_existing_only') continue;
    if (name in earlier.object) attributesSetTwice++;
  }
  const addedSegments = later.membershipsAdded > 0 ? [...earlier.addedSegments, later.segment] : earlier.addedSegments;
  const identity = later.identity ? [...(earlier.identity ?? []), ...later.identity] : earlier.identity;
  return {
    object: Object.assign(earlier.object, later.object),
    slot: later.slot,
    segment: later.segment,
    attributesChanged: earlier.attributesChanged + later.attributesChanged - attributesSetTwice,
    membershipsAdded: earlier.membershipsAdded + later.membershipsAdded,
    removedSegments: NO_SEGMENTS,
    addedSegments,
    rows: earlier.rows + 1,
    ...(identity ? { identity } : {}),
  };
}

/** The field that identifies the user (`identifierFields`): `email` is an attribute too unless it is this. */
function identifierOf(object: Record<string, unknown>): string {
  if ('external_id' in object) return 'external_id';
  return 'user_alias' in object ? 'user_alias' : 'email';
}
